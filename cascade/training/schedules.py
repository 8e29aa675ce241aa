"""Learning rate and weight averaging for runs of a few thousand steps, as functions of the step alone.

Both depend on the step count and a planned number of steps, never on the clock, so a resumed run
replays them exactly; the plan is fixed once (from the budget and the measured step time, or given)
and saved with the run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


def learning_rate(step: int, planned: int | None, *, peak: float, warmup: int, final: float) -> float:
    """Linear warm-up over `warmup` steps, then cosine decay from `peak` to `final * peak` at step
    `planned`, flat after it; `peak` while the plan is not fixed yet (a budget run plans during warm-up)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    if planned is None:
        return peak
    progress = min(1.0, (step - warmup) / max(1, planned - warmup))
    return peak * (final + (1 - final) * 0.5 * (1 + math.cos(math.pi * progress)))


def ema_decay(step: int, gamma: float) -> float:
    """Karras et al. 2024 (EDM2) power-function EMA: beta_t = (1 - 1 / t)^(gamma + 1) after the t-th
    update, so the average always spans a fixed fraction of the run (gamma 7: about its last eighth)
    however long the budget made it; the first update copies the weights."""
    return (1 - 1 / (step + 1)) ** (gamma + 1)


class WeightAverage:
    """An EMA of a model's parameters, updated with one fused `_foreach` call instead of a Python loop."""

    def __init__(self, parameters: Iterable[torch.nn.Parameter], gamma: float) -> None:
        self.parameters = list(parameters)
        self.shadow = [p.detach().clone() for p in self.parameters]  # training keeps fp32 weights
        self.gamma = gamma

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Fold in the weights after optimiser step `step` (0-based)."""
        torch._foreach_lerp_(self.shadow, self.parameters, 1 - ema_decay(step, self.gamma))

    def state_dict(self) -> dict[str, list[torch.Tensor]]:
        return {"shadow": self.shadow}

    def load_state_dict(self, state: dict[str, list[torch.Tensor]]) -> None:
        torch._foreach_copy_(
            self.shadow, [t.to(s.device) for t, s in zip(state["shadow"], self.shadow, strict=True)]
        )
