"""Cascade stages: the 64x64 base, pixel super-resolution, and the latent x4 upscaler.

`StageSpec` and `StageSettings` are plain data; `Stage` and `StageJob` (torch, diffusers) are imported
when first used (cascade/lazy.py), so that planning from a model's JSON files stays cheap.
"""

from typing import TYPE_CHECKING

from cascade.lazy import lazy_attributes
from cascade.stages.spec import StageSettings, StageSpec

if TYPE_CHECKING:
    from cascade.stages.base import Stage, StageJob

__all__ = ["Stage", "StageJob", "StageSettings", "StageSpec"]
__getattr__, __dir__ = lazy_attributes(
    __name__, {"Stage": "cascade.stages.base", "StageJob": "cascade.stages.base"}
)
