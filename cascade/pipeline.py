"""The cascade: prompt -> text embedding -> stage I -> stage II -> stage III -> image.

`run` takes a heterogeneous batch of requests and drives the engine's step loop (`cascade.engine`)
inline: jobs join each stage's running batch as slots free up and leave as soon as their own step count
is reached. The server and batch rendering drive the same loop on a worker thread.
"""

from __future__ import annotations

import copy
import heapq
import json
import logging
from collections.abc import Sequence
from dataclasses import replace
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
    is_if_folder,
    read_model_spec,
)
from cascade.devices import encoder_dtype, resolve_device, resolve_dtype
from cascade.engine import EngineConfig, EngineLoop, Failed, RequestHandle
from cascade.engine.loop import Stepped
from cascade.errors import CheckpointError, InvalidRequestError
from cascade.images import tensor_to_pil
from cascade.planning import StagePlan, plan_request, upscale_size
from cascade.request import GenerationRequest, GenerationResult, Thresholding, check_prompt, image_seeds
from cascade.safeguards import Safeguards, for_if_checkpoint
from cascade.sampling.guidance import uses_guidance
from cascade.stages import Stage, StageSettings
from cascade.stages.loading import load_stage
from cascade.text_encoder import TextEmbedding, TextEncoder

logger = logging.getLogger(__name__)
DEFAULT_MAX_BATCH = 8


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
        spec = read_model_spec(root, _path(stage_II), _path(stage_III), _path(text_encoder))
        if is_if_folder(root):
            safeguards = safeguards or for_if_checkpoint(root, torch_device)
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

    def plan(self, request: GenerationRequest) -> StagePlan:
        """The stages a request's size needs, each with the request's settings over the stage defaults."""
        return plan_request([stage.spec for stage in self.stages], request)

    def run(self, requests: Sequence[GenerationRequest], *, progress: bool = True) -> list[GenerationResult]:
        """Generate a batch of possibly different requests; each result depends only on its own request.

        Every prompt is screened before any model work: one refused prompt raises `PromptRejected`
        and nothing runs. A request the model fails on re-raises the model's error.
        """
        config = EngineConfig(max_batch_size=self.max_batch_size, request_timeout_s=None, previews=False)
        loop = EngineLoop(self, config)
        works = [loop.prepare(request, RequestHandle(request, None, progress=False)) for request in requests]
        verdicts = self.safeguards.screen_each([request.prompt for request in requests])
        for work, verdict in zip(works, verdicts, strict=True):
            work.verdict = verdict
            loop.add(work)
        bars = StageBars(self.stages, loop, enabled=progress)
        try:
            while (stepped := loop.step()) is not None:
                bars.stepped(stepped)
        finally:
            bars.close()
        results = []
        for work in works:
            final = work.handle.final
            if isinstance(final, Failed):
                raise final.cause or RuntimeError(final.error)
            results.append(final.result)
            if final.result.prompt_truncated:
                logger.warning(
                    "prompt %r was truncated to the encoder's %d tokens",
                    final.result.request.prompt[:60],
                    self.encoder.max_length,
                )
        return results

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
        size: int | tuple[int, int] = 64,
        steps: int | Sequence[int] | None = None,
        guidance: float | Sequence[float] | None = None,
        negative_prompt: str | None = None,
        noise_level: int | Sequence[int] | None = None,
        solver: str | None = None,
        thresholding: Thresholding | None = None,
        image: PIL.Image.Image | None = None,
        mask: PIL.Image.Image | None = None,
        strength: float | None = None,
        progress: bool = True,
    ) -> list[PIL.Image.Image]:
        """Images for one prompt or a list; prompt i uses seed + i (a random seed when none is given).
        `size` is a side or (width, height) whose short side is a stage's size (`cascade.planning`).
        With `image`, the base and pixel super-resolution stages start from it (img2img), running
        `strength` of their schedules; with a `mask` too the base stage repaints only the mask's white
        pixels (inpainting)."""
        prompts = [prompt] if isinstance(prompt, str) else prompt
        if not isinstance(prompts, Sequence) or not prompts:
            raise InvalidRequestError("prompt", "must be a non-empty string or a non-empty list of strings")
        for text in prompts:
            check_prompt("prompt", text)
        requests = [
            GenerationRequest(
                prompt=text,
                seed=image_seed,
                size=size,
                negative_prompt=negative_prompt,
                steps=steps,
                guidance=guidance,
                noise_level=noise_level,
                solver=solver,
                thresholding=thresholding,
                image=image,
                mask=mask,
                strength=strength,
            )
            for text, image_seed in zip(prompts, image_seeds(seed, len(prompts)), strict=True)
        ]
        return [result.image for result in self.run(requests, progress=progress)]

    def upscale(
        self,
        image: PIL.Image.Image,
        *,
        prompt: str = "",
        size: int | tuple[int, int] | None = None,
        seed: int | None = None,
        steps: int | Sequence[int] | None = None,
        guidance: float | Sequence[float] | None = None,
        noise_level: int | Sequence[int] | None = None,
        solver: str | None = None,
        strength: float | None = None,
        progress: bool = True,
    ) -> PIL.Image.Image:
        """`image` through the super-resolution stages only, from the largest stage input its short side
        covers (64 or 256 px for IF) up to `size` (default: one stage up from there, in its aspect
        ratio). `prompt` describes the picture, as the stages' text conditioning; empty is allowed."""
        request = GenerationRequest(
            prompt=prompt,
            seed=image_seeds(seed, 1)[0],
            size=upscale_size([stage.spec for stage in self.stages], image) if size is None else size,
            steps=steps,
            guidance=guidance,
            noise_level=noise_level,
            solver=solver,
            image=image,
            strength=strength,
            upscale=True,
        )
        return self.run([request], progress=progress)[0].image


ROMAN = ("I", "II", "III", "IV", "V", "VI")


def stage_label(depth: int, resolution: int) -> str:
    """A stage as a user names it, by its place in the cascade and its output size: `stage II (256 px)`."""
    number = ROMAN[depth] if depth < len(ROMAN) else str(depth + 1)
    return f"stage {number} ({resolution} px)"


def step_boundaries(running: Sequence[int], queued: Sequence[int], slots: int) -> int:
    """How many steps a stage takes to finish jobs with these remaining step counts: the running ones, and
    the queued ones joining in FIFO order as slots free up (the engine's admission without a memory
    budget). Two images at 50 steps take 50; twenty in batches of 8 take 150."""
    free_at = list(running) + [0] * max(slots - len(running), 0)
    heapq.heapify(free_at)
    last = max(running, default=0)
    for steps in queued:
        end = heapq.heappop(free_at) + steps
        heapq.heappush(free_at, end)
        last = max(last, end)
    return last


class StageBars:
    """`Cascade.run`'s progress: one tqdm bar per stage that has work, counting the denoising steps of
    that stage's running batch (one per U-Net forward), with the batch's size alongside:
    `stage I (64 px): 100%|...| 50/50 [00:04<00:00, 11.2step/s, batch of 2 images]`.

    When more images than fit one batch pass through a stage, the bar counts every batch's steps and
    says how many images are done; its total is re-estimated from the loop's queues at each step (exact
    for stage I, and for later stages whenever their images arrive together)."""

    def __init__(self, stages: Sequence[Stage], loop: EngineLoop, *, enabled: bool = True) -> None:
        self.loop = loop
        self.bars: dict[int, tqdm] = {}
        self.started: set[int] = set()
        if not enabled:
            return
        works = [work for queue in loop.waiting for work in queue]
        self.images = [sum(1 for work in works if work.runs(depth)) for depth in range(len(stages))]
        for depth, stage in enumerate(stages):
            if self.images[depth]:
                desc = stage_label(depth, stage.spec.resolution)
                bar = tqdm(total=self._remaining(depth), desc=desc, unit="step", position=depth)
                first = min(self.images[depth], loop.policy.max_batch_size[depth])
                bar.set_postfix_str(self._batch(depth, first, done=0), refresh=False)
                self.bars[depth] = bar

    def stepped(self, stepped: Stepped) -> None:
        bar = self.bars.get(stepped.stage)
        if bar is None or not stepped.requests:
            return
        depth = stepped.stage
        if depth not in self.started:  # its clock starts now, not while earlier stages ran
            self.started.add(depth)
            bar.reset()
        left = self._left(depth)
        bar.total = bar.n + 1 + self._remaining(depth)
        bar.set_postfix_str(self._batch(depth, stepped.requests, self.images[depth] - left), refresh=False)
        bar.update(1)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()

    def _batch(self, depth: int, running: int, done: int) -> str:
        text = f"batch of {running} image{'' if running == 1 else 's'}"
        if self.images[depth] > running:
            text += f", {done}/{self.images[depth]} done"
        return text

    def _arriving(self, depth: int) -> list:
        """Works still to pass through stage `depth`, roughly in the order they will join it."""
        loop = self.loop
        later = [w for e in reversed(range(depth)) for w in (*loop.running[e], *loop.waiting[e])]
        return list(loop.waiting[depth]) + [w for w in later if w.runs(depth)]

    def _left(self, depth: int) -> int:
        return len(self.loop.running[depth]) + len(self._arriving(depth))

    def _remaining(self, depth: int) -> int:
        running = [w.job.steps_total - w.job.steps_done for w in self.loop.running[depth]]
        queued = [w.plan[depth - w.first][1].steps_run for w in self._arriving(depth)]
        return step_boundaries(running, queued, self.loop.policy.max_batch_size[depth])


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
    if stage.start_image is not None:
        tensor_to_pil(stage.start_image).save(folder / stage.spec.start_image)
