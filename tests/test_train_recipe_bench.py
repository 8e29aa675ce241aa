"""The recipe check (`bench/train_recipe.py`) trains, exports and scores both recipes at a toy budget and
prints a row for each with finite figures, so the full run cannot fail on a typo."""

from __future__ import annotations

import functools
import importlib.util
import math
import sys
from pathlib import Path

import pytest

from cascade.data import statistics
from cascade.training import export

BENCH = Path(__file__).resolve().parents[1] / "bench" / "train_recipe.py"


@pytest.fixture(scope="module")
def bench():
    """The script as a module (bench/ is no package); registered, as its dataclasses need."""
    spec = importlib.util.spec_from_file_location("train_recipe", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_both_recipes_get_a_row_of_finite_figures_at_a_toy_budget(bench, tmp_path, monkeypatch):
    # The old recipe's export averages 2048 renders for its start image; a toy model needs far fewer.
    monkeypatch.setattr(export, "mean_image", functools.partial(statistics.mean_image, count=64))
    settings = bench.Settings(resolution=16, width=8, levels=2, attention_from_level=1, batch_size=4)
    rows = bench.recipe_check(settings, budget_s=2.0, prompts=2, out_dir=tmp_path)
    trained = {row.recipe: row for row in rows if row.training is not None}
    assert list(trained) == ["old", "new"]
    for row in trained.values():
        t = row.training
        assert t.steps >= 1 and t.cpu_s > 0 and t.images_per_s > 0
        # The old recipe trains until its budget is spent; the new one fixes its steps from a timed
        # first block and can end a little early when later steps run faster (docs/TRAINING.md).
        assert t.wall_s >= 2.0 if row.recipe == "old" else t.wall_s > 0
        assert all(0.0 <= row.accuracy[key] <= 1.0 for key in bench.COLUMNS)
        assert len(list((t.model.parent / "samples" / "16px").glob("*.png"))) == 2
    lines = bench.table(rows).splitlines()
    assert [line.split("|")[1].strip() for line in lines[2:4]] == ["old", "new"]
    for line in lines[2:4]:
        assert all(math.isfinite(float(cell)) for cell in line.split("|")[2:-1])


def test_single_object_cases_come_from_the_held_out_suite(bench):
    cases = bench.single_object_cases(5)
    assert len(cases) == 5 and all(len(case.scene.objects) == 1 for case in cases)
    assert len({case.prompt for case in cases}) == 5
