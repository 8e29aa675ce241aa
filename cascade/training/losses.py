"""Loss weighting for epsilon-prediction training."""

from __future__ import annotations

import torch


def min_snr_weights(
    timesteps: torch.Tensor, alphas_cumprod: torch.Tensor, gamma: float = 5.0
) -> torch.Tensor:
    """Min-SNR-gamma (Hang et al., 2023): weight min(SNR, gamma) / SNR per sample, so that the many
    easy low-noise steps stop dominating the gradient."""
    alpha = alphas_cumprod.to(timesteps.device)[timesteps]
    snr = alpha / (1 - alpha)
    return snr.clamp(max=gamma) / snr
