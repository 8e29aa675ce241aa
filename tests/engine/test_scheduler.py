"""The scheduling policy, without a model: round robin over busy stages, FIFO admission within limits."""

from __future__ import annotations

import pytest

from cascade.engine.scheduler import SchedulingPolicy, StageLoad


def test_round_robin_visits_every_stage_with_work_and_skips_idle_ones():
    policy = SchedulingPolicy([4, 4, 4])
    loads = [StageLoad(1, ()), StageLoad(0, ()), StageLoad(0, (10,))]
    assert [policy.choose_stage(loads) for _ in range(4)] == [0, 2, 0, 2]
    assert policy.choose_stage([StageLoad(0, ())] * 3) is None


def test_admission_fills_free_slots_from_the_head_of_the_queue():
    policy = SchedulingPolicy([3])
    assert policy.admissions(0, StageLoad(1, (5, 5, 5, 5)), memory_in_use=0) == 2
    assert policy.admissions(0, StageLoad(3, (5,)), memory_in_use=0) == 0


def test_large_request_at_the_head_is_not_overtaken_by_smaller_ones():
    policy = SchedulingPolicy([8], memory_budget=100)
    # 60 in use: the head (50) does not fit, and the small ones behind it must wait their turn
    assert policy.admissions(0, StageLoad(1, (50, 10, 10)), memory_in_use=60) == 0
    assert policy.admissions(0, StageLoad(0, (50, 10, 10)), memory_in_use=0) == 3


def test_memory_budget_bounds_the_sum_of_running_costs():
    policy = SchedulingPolicy([8], memory_budget=100)
    assert policy.admissions(0, StageLoad(0, (40, 40, 40)), memory_in_use=0) == 2
    assert policy.fits_alone(100) and not policy.fits_alone(101)


def test_out_of_memory_shrinks_the_stage_batch_below_the_failed_size():
    policy = SchedulingPolicy([8, 8])
    policy.shrink_batch(1, 6)
    assert policy.max_batch_size == [8, 5]
    policy.shrink_batch(1, 1)
    assert policy.max_batch_size == [8, 1]


def test_invalid_limits_are_refused():
    with pytest.raises(ValueError, match="max_batch_size"):
        SchedulingPolicy([0])
    with pytest.raises(ValueError, match="memory_budget"):
        SchedulingPolicy([1], memory_budget=0)
