"""Conversions from what a U-Net predicts to the clean image x0 it implies."""

from __future__ import annotations

import torch

PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")


def predicted_x0(
    model_output: torch.Tensor, sample: torch.Tensor, alpha_prod: torch.Tensor, prediction_type: str
) -> torch.Tensor:
    """x0 from an epsilon, v or sample prediction at a step whose cumulative alpha is `alpha_prod`."""
    if prediction_type == "epsilon":
        return (sample - (1 - alpha_prod) ** 0.5 * model_output) / alpha_prod**0.5
    if prediction_type == "v_prediction":
        return alpha_prod**0.5 * sample - (1 - alpha_prod) ** 0.5 * model_output
    if prediction_type == "sample":
        return model_output
    raise ValueError(f"prediction_type must be one of {PREDICTION_TYPES}, got {prediction_type!r}")
