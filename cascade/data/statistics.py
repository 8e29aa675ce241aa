"""Statistics of the training data that sampling uses: the mean image a base stage can start from.

A base stage whose schedule ends at a near-zero signal-to-noise ratio cannot turn pure noise into a
clean x0 at the first step (epsilon -> x0 divides by sqrt(alpha_bar), about 5e-5 at t = 999). Starting
at a lower timestep from the noised mean image of its data (`StageSpec.strength`, `start_image`) skips
the steps it never learnt, and the mean image is the least informative start there is.
"""

from __future__ import annotations

import torch

from cascade.data.dataset import WorldDataset


def mean_image(resolution: int, count: int = 2048, seed: int = 0) -> torch.Tensor:
    """The per-pixel mean of `count` training renders at `resolution`: (1, 3, R, R) in [-1, 1]."""
    data = WorldDataset(resolution=resolution, seed=seed)
    total = torch.zeros(3, resolution, resolution, dtype=torch.float64)
    for index in range(count):
        total += data[index][0]
    return (total / count).float().unsqueeze(0)
