"""Static clipping and dynamic thresholding of the predicted clean image (Imagen, section 2.3)."""

from __future__ import annotations

import torch


def static_clip(x0: torch.Tensor, limit: float = 1.0) -> torch.Tensor:
    """Clip every pixel of the x0 prediction into [-limit, limit]."""
    return x0.clamp(-limit, limit)


def dynamic_threshold(x0: torch.Tensor, percentile: float = 0.995, max_value: float = 1.5) -> torch.Tensor:
    """Per sample: s = the `percentile` of |x0|, kept in [1, max_value]; clip x0 to [-s, s], divide by s.

    Pushes saturated pixels inward at high guidance instead of letting them leave [-1, 1].
    Computed in float32 (quantile has no half kernels) and returned in the input dtype.
    """
    dtype = x0.dtype
    flat = x0.float().reshape(x0.shape[0], -1)
    s = torch.quantile(flat.abs(), percentile, dim=1).clamp(min=1.0, max=max_value).unsqueeze(1)
    return (flat.clamp(-s, s) / s).reshape(x0.shape).to(dtype)
