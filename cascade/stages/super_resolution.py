"""Pixel super-resolution (IF stage II, our 64->256 and 256->1024): upsample, corrupt, condition."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, UNet2DConditionModel
from diffusers.utils.torch_utils import randn_tensor

from cascade.stages.base import Stage
from cascade.stages.spec import StageSettings, StageSpec


def noise_augment(
    image: torch.Tensor, levels: torch.Tensor, noising: DDPMScheduler, generator: torch.Generator
) -> torch.Tensor:
    """Imagen section 2.4: forward-diffuse the conditioning image to `levels` (one per sample), so the
    stage learns to ignore the artefacts of the stage before it; the level is also given to the U-Net."""
    noise = randn_tensor(image.shape, generator=generator, device=image.device, dtype=image.dtype)
    return noising.add_noise(image, noise, levels.to(image.device))


def upsample(
    low_res: torch.Tensor, size: int | tuple[int, int], upsampling: str = "align_corners"
) -> torch.Tensor:
    """Bilinear to `size` (a side, or (height, width)), with aligned corners as IF's stage II upsamples
    its input, or with half-pixel centres (`StageSpec.upsampling`); training and sampling of one stage
    use the same."""
    shape = (size, size) if isinstance(size, int) else size
    return F.interpolate(low_res, shape, mode="bilinear", align_corners=upsampling == "align_corners")


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
        return self.unet.config.in_channels // 2 // self.spec.space_to_depth**2

    def augment(
        self, low_res: torch.Tensor, settings: StageSettings, generator: torch.Generator
    ) -> torch.Tensor:
        upscaled = self.start_from(low_res, settings)
        level = torch.tensor([settings.noise_level])
        return noise_augment(upscaled, level, self.image_noising_scheduler, generator)

    def start_from(self, low_res: torch.Tensor | None, settings: StageSettings) -> torch.Tensor:
        """The upsampled input: what the stage conditions on, and where a truncated start begins."""
        if low_res is None:
            raise ValueError(f"stage {self.spec.name!r} starts from its low-res input, and got none")
        shape = self.sample_shape(settings)
        return upsample(low_res.to(self.device, self.dtype), shape, self.spec.upsampling)
