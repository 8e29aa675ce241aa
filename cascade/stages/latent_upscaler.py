"""DeepFloyd IF's third stage: the Stable Diffusion x4 upscaler, a latent U-Net plus a VAE decoder."""

from __future__ import annotations

from typing import Any

import torch
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel

from cascade.stages.base import Stage, StageJob
from cascade.stages.spec import StageSettings, StageSpec
from cascade.stages.super_resolution import noise_augment


class LatentUpscalerStage(Stage):
    """Denoises latents at the low-res size, conditioned on the noised low-res image; the VAE upsamples."""

    augments_before_noise = True  # the upscaler pipeline draws augmentation noise before its latents
    samples_pixels = False

    def __init__(
        self,
        spec: StageSpec,
        unet: UNet2DConditionModel,
        trained_scheduler_config: dict[str, Any],
        low_res_scheduler: DDPMScheduler,
        vae: AutoencoderKL,
    ) -> None:
        super().__init__(spec, unet, trained_scheduler_config)
        self.low_res_scheduler = low_res_scheduler
        self.vae = vae.eval().requires_grad_(False)
        self.upscale_factor = 2 ** (len(vae.config.block_out_channels) - 1)

    @property
    def sample_channels(self) -> int:
        return self.vae.config.latent_channels

    def offloaded_modules(self) -> list[torch.nn.Module]:
        return [self.unet, self.vae]

    def sample_shape(self, settings: StageSettings) -> tuple[int, int]:
        return settings.height // self.upscale_factor, settings.width // self.upscale_factor

    def augment(
        self, low_res: torch.Tensor, settings: StageSettings, generator: torch.Generator
    ) -> torch.Tensor:
        image = low_res.to(self.device, self.dtype).clamp(-1, 1)
        level = torch.tensor([settings.noise_level])
        return noise_augment(image, level, self.low_res_scheduler, generator)

    @torch.inference_mode()
    def finish(self, job: StageJob) -> torch.Tensor:
        latents = job.sample.to(self.device, self.vae.dtype) / self.vae.config.scaling_factor
        return self.vae.decode(latents, return_dict=False)[0]
