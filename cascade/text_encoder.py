"""The frozen text encoder: prompts to per-token embeddings and masks, cached by prompt."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedModel, T5EncoderModel

T5_MODEL_TYPES = ("t5", "mt5", "umt5")
# CLIP's causal attention makes padding harmless, and diffusers calls it without a mask; we match that.
ENCODERS_WITHOUT_MASK = ("clip_text_model", "clip")


@dataclass(frozen=True)
class TextEmbedding:
    """One prompt's encoder output, padded to the encoder's max length."""

    tokens: torch.Tensor  # (max_length, width)
    mask: torch.Tensor  # (max_length,), 1 where a real token is
    truncated: bool  # the prompt had more tokens than max_length and lost its tail


class TextEncoder:
    """A frozen Hugging Face encoder (T5 by default, any AutoModel encoder works) with an LRU cache."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer,
        *,
        name: str,
        max_length: int,
        cache_size: int = 1024,
    ) -> None:
        if max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {max_length}")
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.name = name
        self.max_length = max_length
        self.cache_size = cache_size
        self._cache: OrderedDict[str, TextEmbedding] = OrderedDict()
        self._lock = threading.Lock()
        self.encoder_calls = 0
        self.source = None  # the manifest entry it was loaded from, so saving can keep a package reference
        self.execution_device: torch.device | None = None  # set under CPU offload

    @classmethod
    def from_pretrained(
        cls,
        model_path: str | Path,
        tokenizer_path: str | Path | None = None,
        *,
        max_length: int | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        cache_size: int = 1024,
    ) -> TextEncoder:
        """Load from local folders; T5 configs load only the encoder half of the model."""
        model_path = Path(model_path)
        config = AutoConfig.from_pretrained(model_path, local_files_only=True)
        model_class = T5EncoderModel if config.model_type in T5_MODEL_TYPES else AutoModel
        model = model_class.from_pretrained(model_path, dtype=dtype, local_files_only=True).to(device)
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_path or model_path, local_files_only=True)
        if max_length is None:
            max_length = min(tokenizer.model_max_length, getattr(config, "max_position_embeddings", 512))
        return cls(
            model, tokenizer, name=str(model_path.resolve()), max_length=max_length, cache_size=cache_size
        )

    @property
    def device(self) -> torch.device:
        return self.execution_device or self.model.device

    @property
    def width(self) -> int:
        return (
            self.model.config.hidden_size
            if hasattr(self.model.config, "hidden_size")
            else self.model.config.d_model
        )

    def encode(self, prompts: Sequence[str]) -> list[TextEmbedding]:
        """Embed each prompt; prompts already seen are served from the cache without an encoder call."""
        with self._lock:
            found = {p: self._cache[p] for p in prompts if p in self._cache}
            missing = [p for p in dict.fromkeys(prompts) if p not in found]
            if missing:
                found.update(zip(missing, self._run_encoder(missing), strict=True))
            # Results are taken from `found`: a batch of new prompts may evict this batch's own hits.
            for prompt, embedding in found.items():
                self._remember(prompt, embedding)
            return [found[p] for p in prompts]

    def _remember(self, prompt: str, embedding: TextEmbedding) -> None:
        self._cache[prompt] = embedding
        self._cache.move_to_end(prompt)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    @torch.inference_mode()
    def _run_encoder(self, prompts: list[str]) -> list[TextEmbedding]:
        self.encoder_calls += 1
        inputs = self.tokenizer(
            prompts, padding="max_length", max_length=self.max_length, truncation=True, return_tensors="pt"
        )
        full_lengths = [len(ids) for ids in self.tokenizer(prompts, truncation=False)["input_ids"]]
        mask = inputs["attention_mask"].to(self.device)
        use_mask = self.model.config.model_type not in ENCODERS_WITHOUT_MASK
        hidden = self.model(inputs["input_ids"].to(self.device), attention_mask=mask if use_mask else None)[0]
        return [
            TextEmbedding(tokens=hidden[i], mask=mask[i], truncated=full_lengths[i] > self.max_length)
            for i in range(len(prompts))
        ]
