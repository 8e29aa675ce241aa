"""Lines to image jobs: stable names, seeds from (run seed, line id, index), validation naming the field."""

from __future__ import annotations

from functools import partial

import pytest

from cascade.checkpoint import read_model_spec
from cascade.planning import plan_request
from cascade.render import PromptLine, RenderSettings, derive_seed, plan_lines
from cascade.render.plan import batch_order, check_settings


@pytest.fixture(scope="module")
def planner(own_folder):
    return partial(plan_request, read_model_spec(own_folder).stages)


def plan(planner, lines, **settings):
    return plan_lines(lines, RenderSettings(**settings), planner, "model")


def test_seeds_derive_from_run_seed_line_id_and_index_only(planner):
    lines = [PromptLine(1, "a", "a red star", n=2), PromptLine(2, "b", "a red star", n=2)]
    plans, _ = plan(planner, lines, seed=7, size=16)
    seeds = {job.name: job.request.seed for p in plans for job in p.jobs}
    assert seeds == {f"{i}_{k}.png": derive_seed(7, i, k) for i in "ab" for k in range(2)}
    assert len(set(seeds.values())) == 4 and all(0 <= s < 2**63 for s in seeds.values())
    moved, _ = plan(planner, [PromptLine(9, "b", "a red star", n=2)], seed=7, size=16)
    assert [j.request.seed for j in moved[0].jobs] == [seeds["b_0.png"], seeds["b_1.png"]]
    other_run, _ = plan(planner, lines[:1], seed=8, size=16)
    assert other_run[0].jobs[0].request.seed != seeds["a_0.png"]


def test_a_line_seed_gives_image_i_seed_plus_i(planner):
    plans, _ = plan(planner, [PromptLine(1, "1", "a ring", seed=40, n=3)], seed=7, size=16)
    assert [j.request.seed for j in plans[0].jobs] == [40, 41, 42]


def test_line_settings_override_the_run_settings_and_resolve_per_stage(planner):
    line = PromptLine(1, "1", "a ring", size=32, steps=(3, 2), guidance=2.0, negative_prompt="red")
    plans, _ = plan(planner, [line], size=64, steps=5, negative_prompt="blue")
    job = plans[0].jobs[0]
    assert (job.request.size, job.request.steps, job.request.negative_prompt) == (32, (3, 2), "red")
    assert [(s["resolution"], s["steps"], s["guidance"]) for s in job.stages] == [(16, 3, 2.0), (32, 2, 2.0)]


def test_invalid_lines_are_skipped_with_the_field_named(planner):
    lines = [
        PromptLine(1, "1", "fine"),
        PromptLine(2, "2", "x", size=48),
        PromptLine(3, "3", "x", steps=0),
        PromptLine(4, "4", "x", size=16, steps=(2, 2)),
        PromptLine(5, "5", "x", guidance=-1.0),
        PromptLine(6, "6", "x", seed=2**63 - 1, n=2),
        PromptLine(7, "7", "   "),
        PromptLine(8, "8", "x", n=0),
    ]
    plans, bad = plan(planner, lines, size=16)
    assert [p.line.line for p in plans] == [1]
    fields = {b.line: b.message.split(":")[0] for b in bad}
    assert fields == {2: "size", 3: "steps", 4: "steps", 5: "guidance", 6: "seed", 7: "prompt", 8: "n"}


def test_run_settings_are_checked_once_against_the_model(planner):
    check_settings(RenderSettings(size=32, steps=(2, 2)), planner)
    with pytest.raises(ValueError, match="size"):
        check_settings(RenderSettings(size=128), planner)


def test_fingerprint_changes_with_any_setting_and_not_with_the_line_number(planner):
    def fingerprint(line, **settings):
        plans, _ = plan(planner, [line], **settings)
        return plans[0].jobs[0].fingerprint

    base = fingerprint(PromptLine(1, "a", "a ring"), size=16)
    assert fingerprint(PromptLine(5, "a", "a ring"), size=16) == base
    for line, settings in [
        (PromptLine(1, "a", "a ring!"), {"size": 16}),
        (PromptLine(1, "a", "a ring", steps=2), {"size": 16}),
        (PromptLine(1, "a", "a ring"), {"size": 16, "seed": 1}),
        (PromptLine(1, "a", "a ring"), {"size": 32}),
        (PromptLine(1, "a", "a ring"), {"size": 16, "negative_prompt": "x"}),
        (PromptLine(1, "a", "a ring"), {"size": 16, "solver": "ddim"}),
    ]:
        assert fingerprint(line, **settings) != base, (line, settings)


def test_batch_order_groups_compatible_settings_and_keeps_input_order_within_a_group(planner):
    lines = [
        PromptLine(1, "1", "x", size=64),
        PromptLine(2, "2", "x", size=16),
        PromptLine(3, "3", "x", size=64, steps=2),
        PromptLine(4, "4", "x", size=64),
        PromptLine(5, "5", "x", size=16),
    ]
    plans, _ = plan(planner, lines)
    ordered = batch_order([(p, list(p.jobs)) for p in plans])
    assert [line.line.id for line, _ in ordered] == ["2", "5", "3", "1", "4"]


def test_stages_are_planned_once_per_distinct_settings_and_match_planning_each_line(planner):
    calls = []

    def counting(request):
        calls.append(request)
        return planner(request)

    lines = [PromptLine(i, str(i), f"a ring {i}") for i in range(1, 41)]
    lines += [PromptLine(41, "s", "a star", steps=3), PromptLine(42, "t", "a star", guidance=2.0)]
    lines += [PromptLine(43, "bad", "a star", steps=0), PromptLine(44, "bad2", "a star", size=999)]
    plans, bad = plan(counting, lines, size=16, n=2)
    assert [b.line for b in bad] == [43, 44]
    # default settings, steps=3, guidance=2 and the refused size=999 (steps=0 fails before planning)
    assert len(plans) == 42 and len(calls) == 4
    for line_plan in plans:  # the shared records are what planning each request alone gives
        for job in line_plan.jobs:
            alone, _ = plan(planner, [line_plan.line], size=16, n=2)
            assert job == alone[0].jobs[job.index] and job.fingerprint == alone[0].jobs[job.index].fingerprint
