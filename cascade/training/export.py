"""Export trained runs as a model folder in our format (fp16 shards <= 16 MiB) with a model card.

Two kinds of run export here: the old recipe's, one run folder per stage (`cascade train --stage`,
`export_cascade`), and the new recipe's, one folder for every stage (`cascade train --recipe new`,
`export_recipe`); `cascade export` tells them apart by the recipe file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from cascade.architectures import TRAINED_SCHEDULER, packaged_encoder, pixel_stage
from cascade.checkpoint import CascadeSpec
from cascade.data.statistics import mean_image
from cascade.pipeline import Cascade
from cascade.stages import Stage, StageSpec
from cascade.training.config import RecipeConfig, TrainConfig
from cascade.training.multi_stage import RECIPE, averaged_unet
from cascade.training.objective import SCHEDULE
from cascade.training.run_folder import load_checkpoint, read_log
from cascade.training.stage_sizes import recipe_spec
from cascade.training.trainer import CONFIG, ema_unet

# Sampling defaults of the old recipe's stages, measured best on the shipped weights (docs/TRAINING.md,
# "Sampling this model"). Their epsilon U-Nets cannot turn pure noise into a clean image (zero terminal
# SNR), so the base stage starts at 90% of the schedule from the noised mean training image and the
# super-resolution stages at 60% from their noised upsampled input; DPM-Solver++ then needs few steps.
# Static clipping: dynamic thresholding dims the pale backdrops.
STAGE_DEFAULTS = {
    "base": {
        "solver": "dpm++2m",
        "steps": 20,
        "guidance": 4.0,
        "noise_level": None,
        "strength": 0.9,
        "start_image": "mean_image.png",
        "min_steps": 8,
        "thresholding": {"mode": "static"},
    },
    "sr256": {
        "solver": "dpm++2m",
        "steps": 14,
        "guidance": 2.0,
        "noise_level": 100,
        "strength": 0.6,
        "thresholding": {"mode": "static"},
    },
    "sr1024": {
        "solver": "dpm++2m",
        "steps": 10,
        "guidance": 1.0,
        "noise_level": 100,
        "strength": 0.6,
        "thresholding": {"mode": "static"},
    },
}


def export_cascade(runs: Sequence[Path], out: Path, *, notes: str = "") -> Path:
    """Write the EMA weights of old-recipe `runs` (base first, then super-resolution) as one cascade."""
    configs = [TrainConfig.load(run / CONFIG) for run in runs]
    _check_order([c.super_resolution for c in configs])
    stages, rows = [], []
    for run, config in zip(runs, configs, strict=True):
        resolution = config.geometry[0]
        spec = StageSpec(
            name=f"{resolution}px",
            kind="super_resolution" if config.super_resolution else "base",
            path="",
            resolution=resolution,
            **STAGE_DEFAULTS[config.stage],
        )
        start = mean_image(resolution) if spec.start_image else None
        stages.append(pixel_stage(spec, ema_unet(run), TRAINED_SCHEDULER, start))
        last = (read_log(run) or [{}])[-1]
        rows.append(
            CardRow(
                config.stage,
                resolution,
                last.get("step", 0),
                config.batch_size,
                config.width,
                last.get("loss", float("nan")),
                last.get("images_per_s", 0.0),
            )
        )
    settings = [f"- {c.stage}: `{json.dumps(asdict(c))}`" for c in configs]
    card = model_card(rows, "Settings per stage (train_config.json):", settings, notes)
    return _write_cascade(stages, configs[0].max_tokens, out, card)


def export_recipe(run_dir: Path, out: Path, *, notes: str = "") -> Path:
    """Write the EMA weights of a new-recipe run as one cascade: v-prediction schedules, half-pixel
    upsampling, super-resolution stages that start from their input at `sr_strength`."""
    config = RecipeConfig.load(run_dir / RECIPE)
    _check_order([s.super_resolution for s in config.stages])
    state = load_checkpoint(run_dir)
    if state is None:
        raise FileNotFoundError(f"{run_dir} has no checkpoint yet")
    log = read_log(run_dir)
    stages, rows = [], []
    for recipe in config.stages:
        resolution = recipe.geometry[0]
        spec = recipe_spec(recipe.stage, resolution, recipe.space_to_depth, config.sr_strength)
        unet = averaged_unet(run_dir, recipe.stage, state)
        stages.append(pixel_stage(spec, unet, SCHEDULE))
        steps = state["stages"][recipe.stage]["step"]
        last = ([e for e in log if e["stage"] == recipe.stage] or [{}])[-1]
        rows.append(
            CardRow(
                recipe.stage,
                resolution,
                steps,
                recipe.batch_size,
                unet.config.block_out_channels[0],
                last.get("loss", float("nan")),
                steps * recipe.batch_size / max(state["elapsed_s"], 1e-9),
            )
        )
    settings = [f"`{json.dumps(asdict(config))}`", "", f"Training time: {state['elapsed_s']:.0f} s."]
    card = model_card(rows, "Settings (recipe.json, one process for every stage):", settings, notes)
    return _write_cascade(stages, config.max_tokens, out, card)


def is_recipe_run(run_dir: Path) -> bool:
    return (run_dir / RECIPE).is_file()


@dataclass(frozen=True)
class CardRow:
    stage: str
    resolution: int
    steps: int
    batch: int
    width: int
    loss: float
    images_per_s: float


def model_card(rows: Sequence[CardRow], settings_title: str, settings: Sequence[str], notes: str) -> str:
    lines = [
        "# Demo cascade",
        "",
        "Trained on the procedural captioned world (`cascade/data`), with the frozen "
        "all-MiniLM-L6-v2 encoder. EMA weights, fp16.",
        "",
        "| stage | resolution | steps | batch | width | last loss | images/s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(f"| {r.stage} | {r.resolution} | {r.steps} | {r.batch} | {r.width} | {r.loss:.4f} | ")
        lines[-1] += f"{r.images_per_s:.1f} |"
    lines += ["", settings_title, "", *settings]
    if notes:
        lines += ["", notes]
    return "\n".join(lines) + "\n"


def _check_order(super_resolution: Sequence[bool]) -> None:
    if super_resolution[0] or not all(super_resolution[1:]):
        raise ValueError("give the base run first, then the super-resolution runs")


def _write_cascade(stages: Sequence[Stage], max_tokens: int, out: Path, card: str) -> Path:
    encoder = packaged_encoder(max_tokens)
    Cascade(
        CascadeSpec(str(out), encoder.source, tuple(s.spec for s in stages)), encoder, list(stages)
    ).save_pretrained(out)
    (out / "README.md").write_text(card)
    return out
