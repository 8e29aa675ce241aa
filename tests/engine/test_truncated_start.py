"""Stages that start part-way down the schedule (`StageSpec.strength`): from the noised upsampled input
(super-resolution) or from the noised start image (base), as diffusers' img2img pipelines start."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import numpy as np
import PIL.Image
import pytest
import torch
from diffusers import IFImg2ImgPipeline

from cascade import Cascade, GenerationRequest
from cascade.errors import InvalidRequestError
from cascade.sampling.solvers import SOLVERS, first_step, make_solver
from cascade.stages import StageSpec
from cascade.stages.super_resolution import upsample
from tests.tiny_models import build_own_cascade

SCHEDULE = {"num_train_timesteps": 1000, "beta_schedule": "squaredcos_cap_v2", "prediction_type": "epsilon"}


@pytest.mark.parametrize("solver", sorted(SOLVERS))
@pytest.mark.parametrize(("steps", "strength"), [(10, 0.6), (14, 0.6), (20, 0.9), (50, 0.29), (7, 1.0)])
def test_runs_the_timesteps_diffusers_img2img_runs(solver, steps, strength):
    ours = make_solver(solver, SCHEDULE, steps, first_step(steps, strength))
    theirs = make_solver(solver, SCHEDULE, steps)
    expected, count = IFImg2ImgPipeline.get_timesteps(SimpleNamespace(scheduler=theirs), steps, strength)
    assert ours.timesteps[first_step(steps, strength) :].tolist() == expected.tolist()
    assert count == steps - first_step(steps, strength)
    assert getattr(ours, "begin_index", None) == getattr(theirs, "begin_index", None)


def _model_with(tmp_path, own_folder, **stage_fields) -> Cascade:
    """The tiny cascade with `stage_fields` ({stage name: {field: value}}) written into its manifest."""
    folder = tmp_path / "model"
    shutil.copytree(own_folder, folder)
    manifest = json.loads((folder / "cascade.json").read_text())
    for stage in manifest["stages"]:
        stage.update(stage_fields.get(stage["name"], {}))
    (folder / "cascade.json").write_text(json.dumps(manifest))
    return Cascade.from_pretrained(folder)


def _levels(image: PIL.Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)


def test_super_resolution_at_low_strength_keeps_its_upsampled_input(tmp_path, own_folder):
    """One last step (DDPM's t = 0) from the noised upsampled input barely changes it; a full run from
    noise (random weights) does not come near it. Static clipping keeps both in range."""
    clip = {"mode": "static"}
    low = _model_with(tmp_path / "a", own_folder, **{"32px": {"strength": 0.1, "thresholding": clip}})
    full = _model_with(tmp_path / "b", own_folder, **{"32px": {"thresholding": clip}})
    request = {"prompt": "a red star", "seed": 3, "steps": [4, 10], "solver": "ddpm"}
    base = low.generate(**request | {"steps": 4}, size=16, progress=False)[0]
    expected = upsample(
        torch.from_numpy(_levels(base)).permute(2, 0, 1)[None], 32, low.stages[1].spec.upsampling
    )[0].permute(1, 2, 0)
    near = np.abs(_levels(low.generate(**request, size=32, progress=False)[0]) - expected.numpy()).mean()
    far = np.abs(_levels(full.generate(**request, size=32, progress=False)[0]) - expected.numpy()).mean()
    assert near < 4.0 < far / 4


def test_base_stage_starts_from_its_start_image(tmp_path, own_folder):
    folder = tmp_path / "model"
    shutil.copytree(own_folder, folder)
    PIL.Image.new("RGB", (16, 16), (200, 30, 40)).save(folder / "stage_16px" / "start.png")
    manifest = json.loads((folder / "cascade.json").read_text())
    manifest["stages"][0] |= {"strength": 0.1, "start_image": "start.png", "thresholding": {"mode": "static"}}
    (folder / "cascade.json").write_text(json.dumps(manifest))
    model = Cascade.from_pretrained(folder)
    image = _levels(model.generate("a red star", seed=1, size=16, steps=10, solver="ddpm", progress=False)[0])
    assert np.abs(image - [200, 30, 40]).mean() < 4.0

    model.save_pretrained(tmp_path / "resaved", dtype=torch.float32)
    again = Cascade.from_pretrained(tmp_path / "resaved")
    assert torch.equal(again.stages[0].start_image, model.stages[0].start_image)
    resaved = _levels(
        again.generate("a red star", seed=1, size=16, steps=10, solver="ddpm", progress=False)[0]
    )
    assert np.array_equal(resaved, image)


def test_a_truncated_stage_counts_only_the_steps_it_runs(tmp_path, own_folder):
    model = _model_with(tmp_path, own_folder, **{"32px": {"strength": 0.6}})
    _, settings = model.plan(GenerationRequest(prompt="x", seed=0, size=32, steps=[4, 10]))[1]
    assert settings.strength == 0.6 and settings.steps_run == 6
    stage = model.stages[1]
    cond = model.encoder.encode(["x"])[0]
    job = stage.start(settings, torch.Generator().manual_seed(0), cond, None, torch.zeros(1, 3, 16, 16))
    forwards = 0
    while not job.done:
        assert job.steps_done == forwards and job.steps_total == 6
        stage.step([job])
        forwards += 1
    assert forwards == 6 and job.steps_done == 6


def test_steps_that_run_nothing_under_the_strength_are_refused(tmp_path, own_folder):
    model = _model_with(tmp_path, own_folder, **{"32px": {"strength": 0.3}})
    with pytest.raises(InvalidRequestError) as error:
        model.plan(GenerationRequest(prompt="x", seed=0, size=32, steps=[4, 3]))
    assert error.value.field == "steps" and "strength 0.3" in str(error.value)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"strength": 0.0}, "strength must be in"),
        ({"strength": 0.5}, "needs a start_image"),
        ({"kind": "super_resolution", "noise_level": 100, "start_image": "a.png"}, "for base stages only"),
        ({"kind": "latent_upscaler", "noise_level": 20, "strength": 0.5}, "whole schedule"),
        ({"upsampling": "nearest"}, "upsampling must be one of"),
        ({"space_to_depth": 3}, "power of two"),
    ],
)
def test_stage_fields_are_checked(fields, message):
    base = {"name": "s", "kind": "base", "path": "", "resolution": 64, "steps": 10, "guidance": 1.0}
    with pytest.raises(ValueError, match=message):
        StageSpec(**(base | {"solver": "ddpm"} | fields))


def test_a_start_image_of_the_wrong_size_is_a_checkpoint_error(tmp_path):
    from cascade.errors import CheckpointError

    folder = build_own_cascade(tmp_path / "model", sizes=(16,))
    PIL.Image.new("RGB", (8, 8)).save(folder / "stage_16px" / "start.png")
    manifest = json.loads((folder / "cascade.json").read_text())
    manifest["stages"][0] |= {"strength": 0.5, "start_image": "start.png"}
    (folder / "cascade.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="8x8, not 16 px"):
        Cascade.from_pretrained(folder)
