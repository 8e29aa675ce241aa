"""The eval suite is fixed and held out, and the detail figure tells real detail from upsampling blur."""

from __future__ import annotations

from collections import Counter

import PIL.Image
import pytest

from cascade.data.captions import TEMPLATES, layout
from cascade.data.draw import render
from cascade.data.sampler import sample_scene
from cascade.evaluation.adherence import EVAL_SIZE, detail, eval_suite, evaluate


def test_eval_suite_is_deterministic_held_out_and_large_enough():
    suite = eval_suite()
    assert len(suite) == EVAL_SIZE >= 300
    assert suite == eval_suite()
    assert all(case.template.startswith("eval/") for case in suite)
    every = {f"eval/{family}/{i}" for family, ts in TEMPLATES["eval"].items() for i in range(len(ts))}
    assert {case.template for case in suite} == every
    families = Counter(layout(case.scene) for case in suite)
    assert min(families.values()) >= 60


def test_eval_suite_scores_perfectly_on_its_own_renders():
    cases = eval_suite(24)
    report = evaluate([render(case.scene, 256) for case in cases], cases)
    assert all(value == 1.0 for value in report["accuracy"].values()), report
    assert set(report["detail"]) == {"above_64", "above_256", "gradient_energy"}


@pytest.fixture(scope="module")
def scene():
    return sample_scene(12, "listed")


def test_native_1024_render_has_more_detail_than_a_64_render_upsampled(scene):
    upsampled = render(scene, 64).resize((1024, 1024), PIL.Image.Resampling.BICUBIC)
    sharp, blurred = detail(render(scene, 1024)), detail(upsampled)
    assert sharp["above_64"] > 5 * blurred["above_64"]
    assert sharp["gradient_energy"] > 5 * blurred["gradient_energy"]


def test_each_stage_resolution_adds_detail_in_its_own_band(scene):
    """256 px holds detail above the 64 px limit; only 1024 px holds much above the 256 px limit."""
    figures = {size: detail(render(scene, size)) for size in (64, 256, 1024)}
    assert figures[64]["above_64"] < figures[256]["above_64"]
    assert figures[256]["above_256"] < figures[1024]["above_256"] / 5
