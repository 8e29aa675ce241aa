"""Building a runnable stage from its folder in diffusers' layout (weights, schedulers, the VAE)."""

from __future__ import annotations

from pathlib import Path

import PIL.Image
import torch
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel

from cascade.checkpoint import read_json
from cascade.errors import CheckpointError
from cascade.images import pil_to_tensor
from cascade.stages.base import Stage
from cascade.stages.latent_upscaler import LatentUpscalerStage
from cascade.stages.spec import StageSpec
from cascade.stages.super_resolution import SuperResolutionStage


def load_stage(
    spec: StageSpec, root: Path, device: torch.device, dtype: torch.dtype, variant: str | None = None
) -> Stage:
    """Build a runnable stage from its folder; any unreadable file becomes a CheckpointError."""
    folder = root / spec.path
    try:
        unet = UNet2DConditionModel.from_pretrained(folder / "unet", torch_dtype=dtype, variant=variant)
        scheduler_config = read_json(folder / "scheduler" / "scheduler_config.json")
        if spec.kind == "base":
            stage: Stage = Stage(spec, unet, scheduler_config, read_start_image(folder, spec))
        elif spec.kind == "super_resolution":
            noising = DDPMScheduler.from_pretrained(folder / "image_noising_scheduler")
            stage = SuperResolutionStage(spec, unet, scheduler_config, noising)
        else:
            noising = DDPMScheduler.from_pretrained(folder / "low_res_scheduler")
            vae = AutoencoderKL.from_pretrained(folder / "vae", torch_dtype=dtype, variant=variant)
            stage = LatentUpscalerStage(spec, unet, scheduler_config, noising, vae.to(device))
    except CheckpointError:
        raise
    except (OSError, ValueError, RuntimeError, KeyError) as error:
        raise CheckpointError(folder, f"cannot load stage {spec.name!r}: {error}") from None
    # Channels-last convolutions: 7-12% faster steps on CPU (oneDNN) for the shipped model and the
    # tiny IF one (docs/ENGINE.md); cuDNN prefers them too for half-precision convolutions.
    stage.unet.to(device, memory_format=torch.channels_last)
    return stage


def read_start_image(folder: Path, spec: StageSpec) -> torch.Tensor | None:
    """The base stage's start image (a PNG of its resolution) as (1, 3, R, R) in [-1, 1], if it names one."""
    if spec.start_image is None:
        return None
    with PIL.Image.open(folder / spec.start_image) as image:
        if image.size != (spec.resolution, spec.resolution):
            raise ValueError(f"{spec.start_image} is {image.width}x{image.height}, not {spec.resolution} px")
        return pil_to_tensor(image)
