"""Classifier-free guidance (Ho & Salimans, 2022)."""

from __future__ import annotations

import torch


def classifier_free_guidance(cond: torch.Tensor, uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Extrapolate from the unconditional toward the conditional prediction by `scale`."""
    return uncond + scale * (cond - uncond)


def uses_guidance(scale: float) -> bool:
    """A scale of 1 or less needs no unconditional pass (the same rule as diffusers' IF pipelines)."""
    return scale > 1.0
