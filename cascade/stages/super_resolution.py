"""Pixel super-resolution (IF stage II, our 64->256 and 256->1024): upsample, corrupt, condition."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, UNet2DConditionModel
from diffusers.utils.torch_utils import randn_tensor

from cascade.stages.base import Stage
from cascade.stages.spec import StageSpec


def noise_augment(
    image: torch.Tensor, noise_level: int, noising: DDPMScheduler, generator: torch.Generator
) -> torch.Tensor:
    """Imagen section 2.4: forward-diffuse the conditioning image to `noise_level`, so the stage learns
    to ignore the artefacts of the stage before it; the level is also given to the U-Net."""
    noise = randn_tensor(image.shape, generator=generator, device=image.device, dtype=image.dtype)
    level = torch.tensor([noise_level], device=image.device)
    return noising.add_noise(image, noise, level)


class SuperResolutionStage(Stage):
    """Upsamples the previous stage's image bilinearly (as IF does) and conditions on its noised copy."""

    def __init__(
        self,
        spec: StageSpec,
        unet: UNet2DConditionModel,
        trained_scheduler_config: dict[str, Any],
        image_noising_scheduler: DDPMScheduler,
    ) -> None:
        super().__init__(spec, unet, trained_scheduler_config)
        self.image_noising_scheduler = image_noising_scheduler

    @property
    def sample_channels(self) -> int:
        return self.unet.config.in_channels // 2

    def augment(self, low_res: torch.Tensor, noise_level: int, generator: torch.Generator) -> torch.Tensor:
        size = (self.spec.resolution, self.spec.resolution)
        upscaled = F.interpolate(
            low_res.to(self.device, self.dtype), size, mode="bilinear", align_corners=True
        )
        return noise_augment(upscaled, noise_level, self.image_noising_scheduler, generator)
