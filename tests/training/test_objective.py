"""The new recipe's objective and schedules: what the U-Net learns at known timesteps, and how the
learning rate and weight average move with the step."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from diffusers import DDPMScheduler

from cascade.sampling.prediction import predicted_x0
from cascade.sampling.solvers import first_step, make_solver
from cascade.training.objective import SCHEDULE, alphas_cumprod, diffuse, loss_weights, timestep_limit
from cascade.training.schedules import WeightAverage, ema_decay, learning_rate

TIMESTEPS = torch.tensor([0, 250, 500, 750, 900, 999])


def noised_example() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x0 = torch.rand(len(TIMESTEPS), 3, 4, 4, generator=generator) * 2 - 1
    return x0, torch.randn(x0.shape, generator=generator), alphas_cumprod()[TIMESTEPS]


def test_schedule_ends_at_zero_snr_and_predicts_v():
    scheduler = DDPMScheduler.from_config(SCHEDULE)
    assert scheduler.config.prediction_type == "v_prediction"
    assert scheduler.alphas_cumprod[-1] == 0 and torch.equal(alphas_cumprod(), scheduler.alphas_cumprod)


def test_inputs_and_targets_are_what_diffusers_computes():
    x0, noise, alpha_bar = noised_example()
    scheduler = DDPMScheduler.from_config(SCHEDULE)
    x_t, v = diffuse(x0, noise, alpha_bar)
    torch.testing.assert_close(x_t, scheduler.add_noise(x0, noise, TIMESTEPS))
    torch.testing.assert_close(v, scheduler.get_velocity(x0, noise, TIMESTEPS))


def test_the_engine_recovers_x0_from_v_at_every_timestep_even_pure_noise():
    x0, noise, alpha_bar = noised_example()
    x_t, v = diffuse(x0, noise, alpha_bar)
    recovered = predicted_x0(v, x_t, alpha_bar.view(-1, 1, 1, 1), "v_prediction")
    torch.testing.assert_close(recovered, x0, atol=1e-5, rtol=0)
    torch.testing.assert_close(x_t[-1], noise[-1])  # t = 999 holds no signal at all
    torch.testing.assert_close(-v[-1], x0[-1])


def test_weight_of_x0_errors_never_vanishes_and_is_capped_at_low_noise():
    alpha_bar = alphas_cumprod()
    weights = loss_weights(alpha_bar, gamma=5.0)
    snr = alpha_bar / (1 - alpha_bar)
    x0_weight = weights * (snr + 1)  # |v error|^2 = (SNR + 1) |x0 error|^2
    torch.testing.assert_close(x0_weight, (snr + 1).clamp(max=5.0))
    assert x0_weight.min() >= 1 - 1e-6 and weights[999] == 1 and weights[900] == 1
    assert weights[0] == pytest.approx(5 * (1 - float(alpha_bar[0])), rel=1e-4)  # t = 0: SNR 2.4e4


@pytest.mark.parametrize("solver", ["ddpm", "ddim", "dpm++2m"])
def test_samplers_start_a_base_stage_at_t_999(solver):
    assert int(make_solver(solver, SCHEDULE, 20).timesteps[0]) == 999


@pytest.mark.parametrize("steps", [10, 14, 15, 25])
def test_super_resolution_trains_on_exactly_the_timesteps_it_samples_from(steps):
    solver = make_solver("dpm++2m", SCHEDULE, steps)
    sampled = solver.timesteps[first_step(steps, 0.6) :]
    assert int(sampled.max()) < timestep_limit(0.6) == 600
    assert int(sampled.max()) >= 600 - 1000 / steps  # and the range is not wider than needed
    assert timestep_limit(1.0) == 1000


def test_learning_rate_warms_up_then_decays_to_the_plan():
    lr = lambda step, planned=100: learning_rate(step, planned, peak=1e-3, warmup=10, final=0.1)  # noqa: E731
    assert [lr(s) for s in (0, 4, 9)] == pytest.approx([1e-4, 5e-4, 1e-3])
    assert lr(55) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))  # half-way down the cosine
    assert lr(100) == lr(250) == pytest.approx(1e-4)
    decay = [lr(s) for s in range(10, 101)]
    assert all(a > b for a, b in itertools.pairwise(decay))
    assert lr(40, planned=None) == 1e-3  # a budget run whose plan is not fixed yet stays at the peak


def test_ema_decay_copies_first_then_averages_a_fixed_fraction_of_the_run():
    assert ema_decay(0, 7.0) == 0.0
    assert ema_decay(999, 7.0) == pytest.approx((1 - 1 / 1000) ** 8)
    # The average's mean age grows with the run: about step / (gamma + 2) steps behind.
    for steps in (100, 1000, 3000):
        ages = [0.0]
        for step in range(1, steps):
            ages.append(ema_decay(step, 7.0) * (ages[-1] + 1))
        assert ages[-1] / steps == pytest.approx(1 / 9, rel=0.05)


def test_weight_average_matches_a_plain_lerp_per_tensor():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    average = WeightAverage(model.parameters(), gamma=7.0)
    expected = [p.detach().clone() for p in model.parameters()]
    for step in range(1, 4):
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.mul_(0.5).add_(step)
        average.update(step)
        beta = ema_decay(step, 7.0)
        expected = [
            beta * e + (1 - beta) * p.detach() for e, p in zip(expected, model.parameters(), strict=True)
        ]
    for shadow, reference in zip(average.shadow, expected, strict=True):
        torch.testing.assert_close(shadow, reference)
    assert not math.isclose(float(average.shadow[0].sum()), float(next(model.parameters()).detach().sum()))
