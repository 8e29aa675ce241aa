"""The cascade: prompt -> text embedding -> stage I -> stage II -> stage III -> image.

`run` takes a heterogeneous batch of requests and drives each stage with step-level batching: jobs
join the running batch as slots free up and leave as soon as their own step count is reached.
"""

from __future__ import annotations

import copy
import json
import logging
import secrets
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import PIL.Image
import torch
from tqdm.auto import tqdm

from cascade.checkpoint import (
    MANIFEST,
    PACKAGE_PREFIX,
    CascadeSpec,
    EncoderSpec,
    encoder_folder,
    existing_folder,
    load_stage,
    read_cascade_spec,
    read_if_spec,
)
from cascade.devices import encoder_dtype, resolve_device, resolve_dtype
from cascade.errors import CheckpointError, InvalidRequestError
from cascade.images import tensor_to_pil
from cascade.request import GenerationRequest, Thresholding, check_prompt, per_stage
from cascade.safeguards import Safeguards, for_if_checkpoint
from cascade.sampling.guidance import uses_guidance
from cascade.stages import Stage, StageJob, StageSettings
from cascade.text_encoder import TextEmbedding, TextEncoder

logger = logging.getLogger(__name__)
DEFAULT_MAX_BATCH = 8


@dataclass(frozen=True)
class GenerationResult:
    request: GenerationRequest
    image: PIL.Image.Image
    prompt_truncated: bool


class Cascade:
    """A loaded cascade of stages sharing one frozen text encoder."""

    def __init__(
        self,
        spec: CascadeSpec,
        encoder: TextEncoder,
        stages: Sequence[Stage],
        stage_encoders: dict[str, TextEncoder] | None = None,
        max_batch_size: int = DEFAULT_MAX_BATCH,
        safeguards: Safeguards | None = None,
    ):
        self.spec = spec
        self.safeguards = safeguards or Safeguards()
        self.encoder = encoder
        self.stages = list(stages)
        self.stage_encoders = stage_encoders or {}
        self.max_batch_size = max_batch_size

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        *,
        stage_II: str | Path | None = None,
        stage_III: str | Path | None = None,
        text_encoder: str | Path | None = None,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        variant: str | None = None,
        safeguards: Safeguards | None = None,
    ) -> Cascade:
        """Load our own folder (with `cascade.json`) or DeepFloyd IF stage folders in diffusers format."""
        root = existing_folder(path, "model")
        torch_device = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, torch_device)
        if (root / MANIFEST).is_file():
            if stage_II or stage_III or text_encoder:
                raise CheckpointError(
                    root, "stage_II/stage_III/text_encoder apply to IF folders, not cascade.json"
                )
            spec = read_cascade_spec(root)
        elif (root / "model_index.json").is_file():
            spec = read_if_spec(root, _path(stage_II), _path(stage_III), _path(text_encoder))
            safeguards = safeguards or for_if_checkpoint(root, torch_device)
        else:
            raise CheckpointError(root, f"not a model folder: no {MANIFEST} and no model_index.json")
        encoder = _load_encoder(
            encoder_folder(root, spec.text_encoder.path),
            encoder_folder(root, spec.text_encoder.tokenizer),
            spec.text_encoder.max_length,
            torch_device,
            torch_dtype,
        )
        encoder.source = spec.text_encoder
        stages = [load_stage(stage, root, torch_device, torch_dtype, variant) for stage in spec.stages]
        stage_encoders = {
            stage.name: _load_encoder(
                Path(stage.text_encoder) / "text_encoder",
                Path(stage.text_encoder) / "tokenizer",
                None,
                torch_device,
                torch_dtype,
            )
            for stage in spec.stages
            if stage.text_encoder
        }
        return cls(spec, encoder, stages, stage_encoders, safeguards=safeguards)

    def enable_model_cpu_offload(self, device: str | torch.device = "cuda") -> None:
        """Keep weights in CPU memory and move each model to `device` only while it runs.

        Uses accelerate's hooks, chained so that a model going on the device sends the previous one back:
        peak device memory is one model. For one-at-a-time `generate` on a small GPU, not for the server,
        whose interleaved stages would move weights every step.
        """
        from accelerate import cpu_offload_with_hook

        device = torch.device(device)
        encoders = [self.encoder, *self.stage_encoders.values()]
        modules = [e.model for e in encoders] + [m for s in self.stages for m in s.offloaded_modules()]
        hook = None
        for module in modules:
            _, hook = cpu_offload_with_hook(module.to("cpu"), device, prev_module_hook=hook)
        for part in (*encoders, *self.stages):
            part.execution_device = device

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(stage.spec.resolution for stage in self.stages)

    def save_pretrained(
        self, path: str | Path, *, dtype: torch.dtype = torch.float16, max_shard_size: str = "16MB"
    ) -> None:
        """Write our format: weights as `dtype` safetensors in shards of at most `max_shard_size`."""
        if self.stage_encoders:
            raise CheckpointError(
                path, "stages with their own text encoder (IF's upscaler) cannot be re-saved"
            )
        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        encoder = self.encoder.source
        if encoder is None or not encoder.path.startswith(PACKAGE_PREFIX):
            _half_copy(self.encoder.model, dtype).save_pretrained(
                root / "text_encoder", max_shard_size=max_shard_size
            )
            self.encoder.tokenizer.save_pretrained(root / "tokenizer")
            encoder = EncoderSpec("text_encoder", "tokenizer", self.encoder.max_length)
        specs = []
        for stage in self.stages:
            folder = f"stage_{stage.spec.name}"
            _save_stage(stage, root / folder, dtype, max_shard_size)
            specs.append(replace(stage.spec, path=folder))
        spec = CascadeSpec(str(root), encoder, tuple(specs))
        (root / MANIFEST).write_text(json.dumps(spec.manifest(), indent=2) + "\n")

    def plan(self, request: GenerationRequest) -> list[tuple[Stage, StageSettings]]:
        """The stages a request's size needs, each with the request's settings over the stage defaults."""
        if request.size not in self.sizes:
            raise InvalidRequestError(
                "size", f"must be one of {list(self.sizes)} for this model, got {request.size!r}"
            )
        stages = self.stages[: self.sizes.index(request.size) + 1]
        upscalers = [s for s in stages if s.spec.noise_level is not None]
        plan = []
        for index, stage in enumerate(stages):
            spec = stage.spec
            steps = per_stage("steps", request.steps, index, len(stages))
            guidance = per_stage("guidance", request.guidance, index, len(stages))
            noise_level = spec.noise_level
            if spec.noise_level is not None:
                noise_level = per_stage(
                    "noise_level", request.noise_level, upscalers.index(stage), len(upscalers)
                )
            settings = StageSettings(
                steps=spec.steps if steps is None else steps,
                guidance=spec.guidance if guidance is None else float(guidance),
                solver=request.solver or spec.solver,
                thresholding=request.thresholding or Thresholding(**spec.thresholding),
                noise_level=spec.noise_level if noise_level is None else noise_level,
            )
            plan.append((stage, settings))
        return plan

    def run(self, requests: Sequence[GenerationRequest], *, progress: bool = True) -> list[GenerationResult]:
        """Generate a batch of possibly different requests; each result depends only on its own request.

        Every prompt is screened before any model work: one refused prompt raises `PromptRejected`
        and nothing runs.
        """
        for request in requests:
            self.safeguards.screen(request.prompt)
        plans = [self.plan(request) for request in requests]
        generators = [torch.Generator("cpu").manual_seed(request.seed) for request in requests]
        images: list[torch.Tensor | None] = [None] * len(requests)
        truncated = [False] * len(requests)
        for depth, stage in enumerate(self.stages):
            members = [i for i, plan in enumerate(plans) if len(plan) > depth]
            if not members:
                break
            conds, unconds = self.embed(
                stage, [requests[i] for i in members], [plans[i][depth][1] for i in members]
            )
            for i, cond in zip(members, conds, strict=True):
                truncated[i] = truncated[i] or cond.truncated
            pending = deque(
                (i, cond, uncond) for i, cond, uncond in zip(members, conds, unconds, strict=True)
            )
            total = sum(plans[i][depth][1].steps for i in members)
            with tqdm(
                total=total,
                desc=f"stage {stage.spec.name} ({stage.spec.resolution}px)",
                disable=not progress,
                unit="step",
            ) as bar:
                for job in self._drive(stage, pending, plans, depth, generators, images, bar):
                    images[job.tag] = stage.finish(job)
        for i, request in enumerate(requests):
            if truncated[i]:
                logger.warning(
                    "prompt %r was truncated to the encoder's %d tokens",
                    request.prompt[:60],
                    self.encoder.max_length,
                )
        return [
            GenerationResult(request, self.finish_image(image), truncated[i])
            for i, (request, image) in enumerate(zip(requests, images, strict=True))
        ]

    def _drive(self, stage: Stage, pending: deque, plans, depth: int, generators, images, bar):
        """Step-level batching: admit pending jobs into free slots, step, and yield jobs as they finish."""
        running: list[StageJob] = []
        while pending or running:
            while pending and len(running) < self.max_batch_size:
                i, cond, uncond = pending.popleft()
                running.append(stage.start(plans[i][depth][1], generators[i], cond, uncond, images[i], tag=i))
            stage.step(running)
            bar.update(len(running))
            yield from (job for job in running if job.done)
            running = [job for job in running if not job.done]

    def finish_image(self, image: torch.Tensor) -> PIL.Image.Image:
        """A stage's output tensor as an image that may leave the process (checked, watermarked)."""
        return self.safeguards.finish(tensor_to_pil(image))

    def embed(
        self, stage: Stage, requests: Sequence[GenerationRequest], settings: Sequence[StageSettings]
    ) -> tuple[list[TextEmbedding], list[TextEmbedding | None]]:
        """A stage's prompts and the negative prompts guidance needs, in one (cached) encoder call."""
        encoder = self.stage_encoders.get(stage.spec.name, self.encoder)
        negatives = [r.negative_prompt or "" for r in requests]
        embedded = encoder.encode([r.prompt for r in requests] + negatives)
        conds, uncond_all = embedded[: len(requests)], embedded[len(requests) :]
        unconds = [
            u if uses_guidance(s.guidance) else None for u, s in zip(uncond_all, settings, strict=True)
        ]
        return conds, unconds

    def generate(
        self,
        prompt: str | Sequence[str],
        *,
        seed: int | None = None,
        size: int = 64,
        steps: int | Sequence[int] | None = None,
        guidance: float | Sequence[float] | None = None,
        negative_prompt: str | None = None,
        noise_level: int | Sequence[int] | None = None,
        solver: str | None = None,
        thresholding: Thresholding | None = None,
        progress: bool = True,
    ) -> list[PIL.Image.Image]:
        """Images for one prompt or a list; prompt i uses seed + i (a random seed when none is given)."""
        prompts = [prompt] if isinstance(prompt, str) else prompt
        if not isinstance(prompts, Sequence) or not prompts:
            raise InvalidRequestError("prompt", "must be a non-empty string or a non-empty list of strings")
        for text in prompts:
            check_prompt("prompt", text)
        base_seed = secrets.randbelow(2**62) if seed is None else seed
        if isinstance(base_seed, bool) or not isinstance(base_seed, int):
            raise InvalidRequestError("seed", f"must be an integer, got {seed!r}")
        requests = [
            GenerationRequest(
                prompt=text,
                seed=base_seed + i,
                size=size,
                negative_prompt=negative_prompt,
                steps=steps,
                guidance=guidance,
                noise_level=noise_level,
                solver=solver,
                thresholding=thresholding,
            )
            for i, text in enumerate(prompts)
        ]
        results = self.run(requests, progress=progress)
        for result in results:
            result.image.info.update(
                seed=str(result.request.seed), prompt_truncated=str(result.prompt_truncated)
            )
        return [result.image for result in results]


def _path(value: str | Path | None) -> Path | None:
    return None if value is None else Path(value)


def _load_encoder(
    model: Path, tokenizer: Path, max_length: int | None, device: torch.device, dtype: torch.dtype
) -> TextEncoder:
    try:
        return TextEncoder.from_pretrained(
            model, tokenizer, max_length=max_length, device=device, dtype=encoder_dtype(dtype)
        )
    except (OSError, ValueError, KeyError) as error:
        raise CheckpointError(model, f"cannot load the text encoder: {error}") from None


def _half_copy(module: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    return copy.deepcopy(module).to(dtype)


def _save_stage(stage: Stage, folder: Path, dtype: torch.dtype, max_shard_size: str) -> None:
    _half_copy(stage.unet, dtype).save_pretrained(folder / "unet", max_shard_size=max_shard_size)
    (folder / "scheduler").mkdir(parents=True, exist_ok=True)
    config = json.dumps(stage.trained_scheduler_config, indent=2, default=list)
    (folder / "scheduler" / "scheduler_config.json").write_text(config + "\n")
    noising = getattr(stage, "image_noising_scheduler", None)
    if noising is not None:
        noising.save_pretrained(folder / "image_noising_scheduler")
