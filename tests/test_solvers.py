"""Solvers come from a prepared template per (solver, schedule, steps); every request gets its own copy."""

from __future__ import annotations

import pytest
import torch

from cascade.architectures import TRAINED_SCHEDULER
from cascade.sampling.solvers import make_solver


@pytest.mark.parametrize("name", ["ddpm", "ddim", "dpm++2m"])
def test_solvers_of_one_schedule_do_not_share_state(name):
    first, second = make_solver(name, TRAINED_SCHEDULER, 10), make_solver(name, TRAINED_SCHEDULER, 10)
    assert first is not second and torch.equal(first.timesteps, second.timesteps)
    sample, x0 = torch.randn(1, 3, 4, 4), torch.rand(1, 3, 4, 4)
    for t in first.timesteps[:2]:  # DPM-Solver++ keeps a history of model outputs
        first.step(x0, t, sample, generator=torch.Generator().manual_seed(0))

    def first_step(solver):
        t = solver.timesteps[0]
        return solver.step(x0, t, sample, generator=torch.Generator().manual_seed(1)).prev_sample

    assert torch.equal(first_step(second), first_step(make_solver(name, TRAINED_SCHEDULER, 10)))


def test_step_count_and_schedule_are_part_of_the_key():
    assert len(make_solver("ddpm", TRAINED_SCHEDULER, 10).timesteps) == 10
    assert len(make_solver("ddpm", TRAINED_SCHEDULER, 25).timesteps) == 25
    linear = {**TRAINED_SCHEDULER, "beta_schedule": "linear"}
    assert not torch.equal(
        make_solver("ddpm", linear, 10).alphas_cumprod,
        make_solver("ddpm", TRAINED_SCHEDULER, 10).alphas_cumprod,
    )
