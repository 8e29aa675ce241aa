"""Running a U-Net on a space-to-depth input: cheap full-resolution stages for CPU inference.

A stage whose manifest sets `space_to_depth: f` has an ordinary diffusers U-Net built for `f * f`
times the channels at `1 / f` the size; the image is pixel-unshuffled on the way in and the prediction
shuffled back. Training and sampling both go through `forward`, so they cannot disagree on the layout.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def forward(unet: torch.nn.Module, factor: int, sample: torch.Tensor, timesteps: torch.Tensor, **kwargs: Any):
    """`unet(sample, timesteps, **kwargs)` in image layout: (N, C, H, W) in, (N, C_out, H, W) out."""
    if factor == 1:
        return unet(sample, timesteps, return_dict=False, **kwargs)[0]
    packed = F.pixel_unshuffle(sample, factor)
    return F.pixel_shuffle(unet(packed, timesteps, return_dict=False, **kwargs)[0], factor)
