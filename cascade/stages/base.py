"""A stage's denoising loop, cut at step boundaries so that requests can join and leave a running batch.

`start` makes a `StageJob` holding everything one request needs (its own solver, generator, sample,
embeddings); `step` advances any set of jobs by one step with a single batched U-Net forward, each
job at its own timestep and guidance; `finish` turns a done job's sample into an image in [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from diffusers import UNet2DConditionModel
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils.torch_utils import randn_tensor

from cascade.sampling.guidance import classifier_free_guidance, uses_guidance
from cascade.sampling.prediction import predicted_x0
from cascade.sampling.solvers import first_step, make_solver
from cascade.sampling.thresholding import dynamic_threshold, static_clip
from cascade.stages import space_to_depth
from cascade.stages.spec import StageSettings, StageSpec
from cascade.text_encoder import TextEmbedding


@dataclass
class StageJob:
    """One request's state inside one stage."""

    settings: StageSettings
    solver: SchedulerMixin
    generator: torch.Generator
    sample: torch.Tensor
    cond: TextEmbedding
    uncond: TextEmbedding | None
    low_res: torch.Tensor | None = None  # noise-augmented conditioning image (super-resolution only)
    step_index: int = 0
    first_index: int = 0  # where a request with strength < 1 joins the schedule
    # inpainting: (1, 1, R, R), 1 where the stage repaints; elsewhere every step keeps the start image
    mask: torch.Tensor | None = None
    tag: Any = field(default=None, compare=False)

    @property
    def done(self) -> bool:
        return self.step_index >= len(self.solver.timesteps)

    @property
    def steps_done(self) -> int:
        return self.step_index - self.first_index

    @property
    def steps_total(self) -> int:
        return len(self.solver.timesteps) - self.first_index

    @property
    def timestep(self) -> torch.Tensor:
        return self.solver.timesteps[self.step_index]


class Stage:
    """A pixel-space stage (IF stage I or II, or ours): the sample is the image itself."""

    augments_before_noise = False
    samples_pixels = True  # its sample is the image (a latent stage's is decoded by `finish`)

    def __init__(
        self,
        spec: StageSpec,
        unet: UNet2DConditionModel,
        trained_scheduler_config: dict[str, Any],
        start_image: torch.Tensor | None = None,
    ):
        if (start_image is None) != (spec.start_image is None):
            raise ValueError(f"stage {spec.name!r}: give the start image exactly when its spec names one")
        self.spec = spec
        self.start_image = start_image  # (1, 3, R, R) in [-1, 1]: where a base stage with strength < 1 starts
        self.unet = unet.eval().requires_grad_(False)
        self.trained_scheduler_config = dict(trained_scheduler_config)
        self.prediction_type = trained_scheduler_config.get("prediction_type", "epsilon")
        self.learns_variance = trained_scheduler_config.get("variance_type") in ("learned", "learned_range")
        self.execution_device: torch.device | None = None  # set under CPU offload: weights live elsewhere

    @property
    def device(self) -> torch.device:
        # A parameter's device and dtype, not `unet.device` / `unet.dtype`: diffusers walks every
        # module there (for offload hooks, for the first floating parameter): each walk cost 7-20% of
        # a tiny model's step time.
        return self.execution_device or next(self.unet.parameters()).device

    def offloaded_modules(self) -> list[torch.nn.Module]:
        """The modules CPU offload moves on and off the device, in the order they run."""
        return [self.unet]

    @property
    def dtype(self) -> torch.dtype:
        return next(self.unet.parameters()).dtype

    @property
    def sample_channels(self) -> int:
        """Channels of the image the stage samples: a space-to-depth U-Net sees f * f times as many."""
        channels = self.unet.config.out_channels // self.spec.space_to_depth**2
        return channels // 2 if self.learns_variance else channels

    def sample_shape(self, settings: StageSettings) -> tuple[int, int]:
        """(height, width) of the sample a request with these settings denoises."""
        return settings.height, settings.width

    def start(
        self,
        settings: StageSettings,
        generator: torch.Generator,
        cond: TextEmbedding,
        uncond: TextEmbedding | None,
        low_res: torch.Tensor | None = None,
        tag: Any = None,
        picture: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> StageJob:
        """Draw the request's initial noise and its augmentation noise in the order its diffusers pipeline
        does (IF stage II: noise first; the SD x4 upscaler: augmentation first).

        With strength < 1 the same noise is added to a start image at the first timestep run, as
        diffusers' img2img pipelines do, so the random draws do not depend on the strength. `picture`
        is a request's own start image at its size here (img2img), (1, 3, H, W) in [-1, 1]; with a
        `mask` (inpainting) only the masked pixels are noised and repainted, as diffusers'
        `IFInpaintingPipeline` and `IFInpaintingSuperResolutionPipeline` do.
        """
        upscales = self.spec.kind != "base"
        if mask is not None and picture is None:
            raise ValueError(f"stage {self.spec.name!r}: a mask needs a start image")
        if low_res is None and upscales:
            raise ValueError(f"stage {self.spec.name!r}: super-resolution needs its low-res input")
        first = first_step(settings.steps, settings.strength)
        solver = make_solver(settings.solver, self.trained_scheduler_config, settings.steps, first)
        conditioning = None
        if upscales and self.augments_before_noise:
            conditioning = self.augment(low_res, settings, generator)
        shape = (1, self.sample_channels, *self.sample_shape(settings))
        sample = randn_tensor(shape, generator=generator, device=self.device, dtype=self.dtype)
        # An img2img request is noised from its image even at strength 1, as diffusers does: with
        # "leading" spacing the first timestep (900 of 1000 at 10 steps) still keeps some of it.
        if first or picture is not None:
            start = self.start_from(low_res, settings) if picture is None else picture
            start = start.to(self.device, self.dtype)
            sample = solver.add_noise(start, sample, solver.timesteps[first : first + 1])
        else:
            sample = sample * solver.init_noise_sigma
        if mask is not None:
            sample = keep_unmasked(start, sample, mask.to(self.device))
        if upscales and not self.augments_before_noise:
            conditioning = self.augment(low_res, settings, generator)
        if not uses_guidance(settings.guidance):
            uncond = None
        return StageJob(
            settings,
            solver,
            generator,
            sample,
            cond,
            uncond,
            conditioning,
            step_index=first,
            first_index=first,
            mask=None if mask is None else mask.to(self.device),
            tag=tag,
        )

    def start_from(self, low_res: torch.Tensor | None, settings: StageSettings) -> torch.Tensor:
        """The clean image a request without a picture of its own is noised from at strength < 1: the
        stage's start image (a base stage takes no `low_res`), stretched to a non-square request's shape
        (it is a mean image: nearly flat)."""
        if self.start_image is None:
            raise ValueError(f"stage {self.spec.name!r} has no start image for strength < 1")
        shape = self.sample_shape(settings)
        if tuple(self.start_image.shape[-2:]) == shape:
            return self.start_image
        return F.interpolate(self.start_image, shape, mode="bilinear", align_corners=False, antialias=True)

    def augment(
        self, low_res: torch.Tensor, settings: StageSettings, generator: torch.Generator
    ) -> torch.Tensor:
        """Noise-conditioning augmentation: the stage only ever sees a corrupted low-res image."""
        raise NotImplementedError(f"stage {self.spec.name!r} takes no low-resolution input")

    @torch.inference_mode()
    def step(self, jobs: list[StageJob]) -> None:
        """Advance every job by one step: one U-Net forward per sample shape over all its jobs' rows, so
        requests of other sizes share the step instead of waiting for each other (docs/ENGINE.md)."""
        shapes: dict[tuple[int, ...], list[StageJob]] = {}
        for job in jobs:
            shapes.setdefault(tuple(job.sample.shape), []).append(job)
        for same_shape in shapes.values():
            self._step_same_shape(same_shape)

    def _step_same_shape(self, jobs: list[StageJob]) -> None:
        rows = [(job, branch) for job in jobs for branch in (("uncond", "cond") if job.uncond else ("cond",))]
        inputs = torch.cat([self.model_input(job) for job, _ in rows])
        embeddings = [job.uncond if branch == "uncond" else job.cond for job, branch in rows]
        kwargs: dict[str, Any] = {
            "encoder_hidden_states": torch.stack([e.tokens for e in embeddings]).to(self.device, self.dtype)
        }
        if self.spec.use_encoder_mask:
            kwargs["encoder_attention_mask"] = torch.stack([e.mask for e in embeddings]).to(self.device)
        if self.spec.noise_level is not None:
            kwargs["class_labels"] = torch.tensor(
                [job.settings.noise_level for job, _ in rows], device=self.device
            )
        timesteps = torch.stack([job.timestep for job, _ in rows]).to(self.device)
        output = space_to_depth.forward(self.unet, self.spec.space_to_depth, inputs, timesteps, **kwargs)

        position = 0
        for job in jobs:
            width = 2 if job.uncond else 1
            self._advance(job, output[position : position + width])
            position += width

    def model_input(self, job: StageJob) -> torch.Tensor:
        sample = job.solver.scale_model_input(job.sample, job.timestep)
        return sample if job.low_res is None else torch.cat([sample, job.low_res], dim=1)

    def _advance(self, job: StageJob, output: torch.Tensor) -> None:
        channels = job.sample.shape[1]
        prediction, variance = output[:, :channels], output[-1:, channels:]
        if job.uncond is not None:
            prediction = classifier_free_guidance(prediction[1:], prediction[:1], job.settings.guidance)
        alpha_prod = job.solver.alphas_cumprod[int(job.timestep)].to(self.device)
        x0 = keep_in_range(
            predicted_x0(prediction, job.sample, alpha_prod, self.prediction_type), job.settings
        )
        solver_input = torch.cat([x0, variance], dim=1) if self._passes_variance(job) else x0
        stepped = job.solver.step(solver_input, job.timestep, job.sample, generator=job.generator).prev_sample
        job.sample = stepped if job.mask is None else keep_unmasked(job.sample, stepped, job.mask)
        job.step_index += 1

    def _passes_variance(self, job: StageJob) -> bool:
        return self.learns_variance and job.settings.solver == "ddpm"

    def finish(self, job: StageJob) -> torch.Tensor:
        """The finished image, (1, 3, H, W), nominally in [-1, 1] (unclamped, as IF hands it on)."""
        return job.sample


def keep_unmasked(kept: torch.Tensor, painted: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`painted` where the inpainting mask is 1, `kept` elsewhere."""
    return (1 - mask) * kept + mask * painted


def keep_in_range(x0: torch.Tensor, settings: StageSettings) -> torch.Tensor:
    mode = settings.thresholding
    if mode.mode == "dynamic":
        return dynamic_threshold(x0, mode.percentile, mode.max_value)
    if mode.mode == "static":
        return static_clip(x0)
    return x0
