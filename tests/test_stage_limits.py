"""A model folder states what each stage can honour (solvers, fewest steps); requests outside are
refused before any weights load, naming the supported values."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest

from cascade import GenerationRequest, InvalidRequestError
from cascade.checkpoint import read_model_spec
from cascade.options import SHIPPED_MODEL
from cascade.planning import plan_request
from cascade.stages import StageSpec


def test_the_shipped_model_refuses_what_its_base_stage_cannot_do():
    stages = read_model_spec(SHIPPED_MODEL).stages
    with pytest.raises(InvalidRequestError, match="needs at least 8 steps") as error:
        plan_request(stages, GenerationRequest(prompt="a ring", seed=0, size=64, steps=5))
    assert error.value.field == "steps"
    for solver in ("ddpm", "ddim", "dpm++2m"):
        plan_request(stages, GenerationRequest(prompt="a ring", seed=0, size=64, solver=solver))
    plan = plan_request(stages, GenerationRequest(prompt="a ring", seed=0, size=256, steps=(8, 15)))
    assert [(settings.steps, settings.steps_run) for _, settings in plan] == [(8, 7), (15, 9)]


def test_limits_round_trip_through_cascade_json_and_default_to_none(own_folder, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(own_folder, folder)
    manifest = json.loads((folder / "cascade.json").read_text())
    assert "solvers" not in manifest["stages"][0] or manifest["stages"][0]["solvers"] is None
    manifest["stages"][0] |= {"solvers": ["ddim", manifest["stages"][0]["solver"]], "min_steps": 2}
    (folder / "cascade.json").write_text(json.dumps(manifest))
    first = read_model_spec(folder).stages[0]
    assert first.solvers == ("ddim", first.solver) and first.min_steps == 2
    assert StageSpec(**first.to_json(), size_multiple=first.size_multiple) == first
    with pytest.raises(InvalidRequestError, match="needs at least 2 steps"):
        plan_request([first], GenerationRequest(prompt="a ring", seed=0, size=first.resolution, steps=1))


def test_a_manifest_whose_defaults_break_its_own_limits_is_refused(own_folder):
    first = read_model_spec(own_folder).stages[0]
    with pytest.raises(ValueError, match="default solver"):
        replace(first, solvers=("ddim",) if first.solver != "ddim" else ("ddpm",))
    with pytest.raises(ValueError, match="min_steps"):
        replace(first, min_steps=first.steps + 1)
