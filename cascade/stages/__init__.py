"""Cascade stages: the 64x64 base, pixel super-resolution, and the latent x4 upscaler."""

from cascade.stages.base import Stage, StageJob, StageSettings
from cascade.stages.spec import StageSpec

__all__ = ["Stage", "StageJob", "StageSettings", "StageSpec"]
