"""`cascade render`'s progress bar moves with denoising steps: each image is worth its steps across all
stages, so the bar advances long before the first image is written."""

from __future__ import annotations

import io
import threading
from dataclasses import replace

import pytest

from cascade.engine import StageProgress
from cascade.render import RenderSettings, plan_lines, read_prompts, render_local, render_plans, runner
from cascade.render.local import Rendered, step_fraction
from cascade.render.progress import RenderBar
from safety.verdict import SafetyVerdict
from tests.render.render_helpers import PROMPTS, MarkerFilter, write_lines


def test_an_images_steps_in_every_stage_add_up_to_one_image():
    names, steps = ["16px", "32px"], [4, 2]
    assert step_fraction(steps, names, StageProgress("16px", 16, 2, 4)) == pytest.approx(2 / 6)
    assert step_fraction(steps, names, StageProgress("16px", 16, 4, 4)) == pytest.approx(4 / 6)
    assert step_fraction(steps, names, StageProgress("32px", 32, 1, 2)) == pytest.approx(5 / 6)
    assert step_fraction(steps, names, StageProgress("32px", 32, 2, 2)) == 1.0


def test_the_bar_moves_with_denoising_steps_before_the_first_image_is_written(
    tmp_path, render_cascade, monkeypatch
):
    lines, _ = read_prompts(write_lines(tmp_path / "p.txt", PROMPTS[:2]))
    plans, _ = plan_lines(lines, RenderSettings(size=32, steps=4), render_cascade.plan, "model")
    states: list[tuple[float, int]] = []  # (images' worth of steps done, images written) at each change
    shown = threading.Event()

    class RecordingBar(RenderBar):
        def _show(self) -> None:
            super()._show()
            states.append((self.done, self.written))
            if self.done > 0 and not self.written:
                shown.set()

    monkeypatch.setattr(runner, "RenderBar", RecordingBar)
    stage = render_cascade.stages[0]
    real_step, calls = stage.step, []

    def held_step(jobs):  # from the second step on, wait until the bar has shown the first one
        calls.append(len(jobs))
        if len(calls) > 1:
            shown.wait(timeout=120)
        return real_step(jobs)

    monkeypatch.setattr(stage, "step", held_step)
    summary = render_plans(
        plans,
        tmp_path / "out",
        lambda jobs, stop: render_local(render_cascade, jobs, batch_size=2, stop=stop),
        MarkerFilter(),
        progress=False,
        report=lambda message: None,
    )
    assert summary.rendered == 2
    moved = [done for done, written in states if written == 0 and done > 0]
    assert moved and 0 < moved[0] <= 2 / 8  # one step of 4 + 4, of one image or of both
    assert [done for done, _ in states] == sorted(done for done, _ in states)  # it never goes back
    assert states[-1][0] == pytest.approx(2.0) and states[-1][1] == 2


def test_without_progress_render_local_hands_back_only_images(render_cascade, tmp_path):
    lines, _ = read_prompts(write_lines(tmp_path / "p.txt", PROMPTS[:2]))
    plans, _ = plan_lines(lines, RenderSettings(size=16, steps=2), render_cascade.plan, "model")
    jobs = [replace(job, verdict=SafetyVerdict(True)) for plan in plans for job in plan.jobs]
    items = list(render_local(render_cascade, jobs, batch_size=2, progress=False))  # as Ray workers call it
    assert [type(item) for item in items] == [Rendered, Rendered]
    assert [item.name for item in items] == ["1_0.png", "2_0.png"]


def test_without_steps_reported_the_bar_counts_whole_images():
    out = io.StringIO()
    bar = RenderBar(3, file=out, mininterval=0, miniters=0)
    bar.advance({"1_0.png": 0.5, "2_0.png": 0.3})
    bar.finished("1_0.png", written=True)
    bar.finished("2_0.png", written=False)
    bar.finished("3_0.png", written=True)  # no steps reported for it (Ray): one whole image at once
    bar.close()
    states = [state.strip() for state in out.getvalue().split("\r") if state.strip()]
    assert states[0].startswith("render:   0%") and "0.0/3 img" in states[0]
    assert any(" 0.8/3 img [" in s and "0 written" in s for s in states), states
    assert any(" 1.3/3 img [" in s and "1 written]" in s for s in states), states
    assert any(" 2.0/3 img [" in s and "1 written, 1 failed]" in s for s in states), states
    assert states[-1].startswith("render: 100%") and " 3.0/3 img [" in states[-1], states[-1]
    assert states[-1].endswith("2 written, 1 failed]")
