"""Screening streamed with rendering, and verdicts kept in the output folder across runs."""

from __future__ import annotations

import pytest

from cascade.render import RenderSettings, plan_lines, read_prompts, read_records, render_local, render_plans
from cascade.render.filtering import checker_identity
from cascade.render.verdicts import VERDICTS_NAME
from cascade.safeguards import Safeguards
from safety import PromptFilter
from tests.render.render_helpers import MARKER, PROMPTS, MarkerFilter, pngs, write_lines

FAST = {"size": 16, "steps": 2}


@pytest.fixture()
def run(own_folder, render_cascade):
    """`run(prompts, out, checker, backend=None)`: render_plans over the file, as `cascade render` does."""

    def run(prompts, out, checker, backend=None):
        lines, _ = read_prompts(prompts)
        plans, _ = plan_lines(lines, RenderSettings(**FAST), render_cascade.plan, str(own_folder.resolve()))

        def local(jobs, stop):
            return render_local(render_cascade, jobs, batch_size=2, stop=stop)

        return render_plans(plans, out, backend or local, checker, progress=False, report=lambda m: None)

    return run


def test_the_first_job_reaches_the_backend_after_one_line_is_screened_not_all(tmp_path, run):
    prompts = write_lines(tmp_path / "p.txt", [f"{PROMPTS[i % 6]} {i}" for i in range(40)])
    checker = MarkerFilter()
    screened_at_first_job = []

    def backend(jobs, stop):
        for count, _ in enumerate(jobs):  # renders nothing: only when lines are screened matters
            if count == 0:
                screened_at_first_job.append(len(checker.checked))
        yield from ()

    run(prompts, tmp_path / "out", checker, backend)
    assert screened_at_first_job == [1]
    assert len(checker.checked) == 40  # every line still screened, once, as the backend asked


def test_a_rerun_reuses_kept_verdicts_and_screens_nothing_again(tmp_path, run):
    prompts = write_lines(tmp_path / "p.txt", [PROMPTS[0], f"a {MARKER} star", PROMPTS[1]])
    out = tmp_path / "out"
    first = run(prompts, out, MarkerFilter())
    assert (first.rendered, first.rejected) == (2, 1)
    (out / "3_0.png").unlink()  # to render again: its line's verdict is kept

    again = MarkerFilter()
    summary = run(prompts, out, again)
    assert again.checked == []
    assert (summary.rendered, summary.skipped, summary.rejected) == (1, 1, 1)
    records = [r for r in read_records(out) if r["type"] == "image" and r["file"] == "3_0.png"]
    assert records[-1]["safety"] == records[0]["safety"]
    assert len([r for r in read_records(out) if r["type"] == "rejected"]) == 1


def test_a_changed_filter_does_not_reuse_old_verdicts(tmp_path, run):
    prompts = write_lines(tmp_path / "p.txt", [PROMPTS[0], f"a {MARKER} star"])
    out = tmp_path / "out"
    run(prompts, out, MarkerFilter(identity="marker-1"))
    changed = MarkerFilter(identity="marker-2")
    run(prompts, out, changed)
    assert changed.checked == [f"a {MARKER} star"]


def test_a_filter_without_an_identity_has_its_verdicts_not_kept(tmp_path, run):
    prompts = write_lines(tmp_path / "p.txt", [f"a {MARKER} star"])
    run(prompts, tmp_path / "out", MarkerFilter(identity=None))
    unnamed = MarkerFilter(identity=None)
    run(prompts, tmp_path / "out", unnamed)
    assert unnamed.checked == [f"a {MARKER} star"]
    assert not (tmp_path / "out" / VERDICTS_NAME).exists()


def test_kept_verdicts_for_one_filter_do_not_leak_into_another_folder_run(tmp_path, run):
    prompts = write_lines(tmp_path / "p.txt", [PROMPTS[0]])
    run(prompts, tmp_path / "a", MarkerFilter())
    fresh = MarkerFilter()
    run(prompts, tmp_path / "b", fresh)
    assert fresh.checked == [PROMPTS[0]] and pngs(tmp_path / "a") == pngs(tmp_path / "b")


def test_the_prompt_filter_identity_follows_its_policy_and_layers_whatever_wraps_it(tmp_path, lexical):
    policy = tmp_path / "policy.toml"
    policy.write_text('[categories.violence]\nblock_terms = ["zorblax"]\n')
    same = checker_identity(lexical)
    assert same == checker_identity(PromptFilter(semantic=False))
    assert same == checker_identity(Safeguards(prompt_filter=lexical.check))
    assert checker_identity(PromptFilter(policy, semantic=False)) != same
    assert checker_identity(Safeguards(prompt_filter=lambda prompt: None)) is None
