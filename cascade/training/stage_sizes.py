"""Stage architectures of the CPU recipe: each stage sized to a wall-time budget on 2 CPU cores.

The shipped demo cascade takes ~74 s for a 1024 px image on 2 cores, most of it in GroupNorm and SiLU
over 1024x1024 activations and in the 256 stage's 64x64 self-attention. Here the super-resolution
stages run on space-to-depth inputs (`cascade/stages/space_to_depth.py`), so no level convolves at more
than 256x256 and no stage attends over more than 32x32 tokens. Each stage has the most width and depth
that fits its budget at the sampling settings below; `python bench/stage_timing.py` measures them
through the engine (docs/BENCHMARKS.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from cascade.architectures import packaged_encoder, pixel_stage, stage_unet
from cascade.checkpoint import CascadeSpec
from cascade.pipeline import Cascade
from cascade.stages import Stage, StageSpec
from cascade.training.config import STAGE_GEOMETRY
from cascade.training.objective import SCHEDULE

# stage: `stage_unet` keyword arguments besides resolution, text width and super_resolution.
STAGE_SIZES: dict[str, dict[str, Any]] = {
    "base": {"width": 40, "levels": 3, "attention_from_level": 2, "space_to_depth": 1},
    "sr256": {"width": 48, "levels": 3, "attention_from_level": 2, "space_to_depth": 2},
    "sr1024": {
        "width": 64,
        "levels": 3,
        "attention_from_level": 3,
        "mid_attention": False,
        "space_to_depth": 4,
        "layers_per_block": 2,
    },
}
# The sampling settings the sizes were chosen at: base with DPM-Solver++ and guidance (cond + uncond rows
# per forward), 256 px with guidance, 1024 px without (guidance 1: one row per forward).
TIMED_SAMPLING: dict[str, dict[str, Any]] = {
    "base": {"solver": "dpm++2m", "steps": 20, "guidance": 4.0, "noise_level": None},
    "sr256": {"solver": "dpm++2m", "steps": 8, "guidance": 2.0, "noise_level": 100},
    "sr1024": {"solver": "dpm++2m", "steps": 6, "guidance": 1.0, "noise_level": 100},
}
# Seconds for one image at each output size on 2 CPU cores, every stage up to that size included.
BUDGET_S = {64: 3.0, 256: 8.0, 1024: 20.0}


def recipe_spec(stage: str, resolution: int, space_to_depth: int, sr_strength: float) -> StageSpec:
    """How a new-recipe stage samples, as its manifest says: `TIMED_SAMPLING`, super-resolution stages
    from their half-pixel upsampled input at `sr_strength` (what they trained on), with enough steps that
    the truncated start still runs the timed number of U-Net forwards; the base stage from pure noise."""
    super_resolution = STAGE_GEOMETRY[stage][1] is not None
    strength = sr_strength if super_resolution else 1.0
    sampling = dict(TIMED_SAMPLING[stage])
    forwards = sampling["steps"]
    while int(sampling["steps"] * strength) < forwards:
        sampling["steps"] += 1
    return StageSpec(
        name=f"{resolution}px",
        kind="super_resolution" if super_resolution else "base",
        path="",
        resolution=resolution,
        strength=strength,
        space_to_depth=space_to_depth,
        **({"upsampling": "half_pixel"} if super_resolution else {}),
        **sampling,
    )


def untrained_cascade(
    sizes: Mapping[str, Mapping[str, Any]] = STAGE_SIZES,
    resolutions: Mapping[str, int] | None = None,
    max_tokens: int = 32,
    sr_strength: float = 0.6,
) -> Cascade:
    """The recipe's stages (base first) with fresh weights, sampling as `export_recipe` writes them: what
    timing needs, since time does not depend on training. Tests pass tiny `sizes` and `resolutions`."""
    encoder = packaged_encoder(max_tokens)
    stages: list[Stage] = []
    for index, (name, layout) in enumerate(sizes.items()):
        torch.manual_seed(index)
        size = resolutions[name] if resolutions else STAGE_GEOMETRY[name][0]
        unet = stage_unet(
            resolution=size,
            text_width=encoder.width,
            super_resolution=STAGE_GEOMETRY[name][1] is not None,
            **layout,
        )
        spec = recipe_spec(name, size, layout.get("space_to_depth", 1), sr_strength)
        stages.append(pixel_stage(spec, unet, SCHEDULE))
    return Cascade(CascadeSpec("", encoder.source, tuple(s.spec for s in stages)), encoder, stages)
