"""The whole GPU lease in one call: train every stage of the new recipe, export, pack for `$OUT`.

    python -m cascade.training.gpu_run --minutes 6 --out "$OUT"

A lease is about 15 minutes of device time in all (machine start, every call, idle time) and at most 10
minutes a call, and only up to 8 files of 16 MiB each come back. Plan of one 10-minute call:

| phase | minutes |
| --- | --- |
| imports, encoder, U-Nets on the device | 0.5 |
| calibration: the first steps of each stage, `torch.compile` included (inside the budget) | 1-2 |
| training, every stage in one process (`--minutes`, the calibration included) | 6 |
| checkpoint, fp16 export, pack | 0.5 |
| margin for a slow start or a slow compile | 3 |

`--minutes` is the training budget `train_cascade` plans its steps and learning rate to; the run stops
at it with a checkpoint either way. What comes back in `--out`: the model folder as a tar split into
parts of at most 16 MiB (`model.tar.000`, ...), the run's step log (`log.jsonl`) and `summary.json`
(settings, steps, losses, images/s per stage, GPU memory, seconds per phase). Unpack with

    cat OUT/model.tar.* | tar -x -C models/     # -> models/demo/, a folder Cascade.from_pretrained loads

`--config FILE` replaces the shipped recipe (`RecipeConfig` JSON; the CPU dry run in the tests uses a
tiny one), and `--steps`/`--batch-sizes` override it, so the dry run exercises the real sizes cheaply.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from cascade.training.config import RecipeConfig
from cascade.training.run_folder import LOG

MODEL_NAME = "demo"
PART_BYTES = MAX_FILE_BYTES = 16 * 2**20
# `$OUT` takes back 8 files, 64 MiB in all: the parts, log.jsonl and summary.json (well under 1 MiB).
# The shipped stage sizes pack to 61.9 MiB (tests/training/test_gpu_run.py measures it).
MAX_PACKED_BYTES = 63 * 2**20


def build_config(args: argparse.Namespace) -> RecipeConfig:
    """The shipped recipe (or `--config`), with the budget and any step or batch overrides."""
    from cascade.training.multi_stage import default_stages

    config = RecipeConfig.load(args.config) if args.config else RecipeConfig(default_stages(), budget_s=60.0)
    stages = tuple(
        replace(stage, batch_size=args.batch_size or stage.batch_size, steps=args.steps)
        for stage in config.stages
    )
    budget = None if args.steps else args.minutes * 60
    return replace(config, stages=stages, budget_s=budget, compile=args.compile)


def pack(folder: Path, out: Path) -> list[Path]:
    """`folder` as an uncompressed tar (fp16 weights barely compress) in parts of at most `PART_BYTES`."""
    archive = out / "model.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(folder, arcname=MODEL_NAME)
    size = archive.stat().st_size
    if size > MAX_PACKED_BYTES:
        raise RuntimeError(
            f"the model folder packs to {size / 2**20:.1f} MiB, over the 63 MiB $OUT has room for"
        )
    count = -(-size // PART_BYTES)
    parts = []
    with archive.open("rb") as whole:
        for index in range(count):
            part = out / f"model.tar.{index:03d}"
            part.write_bytes(whole.read(PART_BYTES))
            parts.append(part)
    archive.unlink()
    return parts


def check_weights(folder: Path) -> dict[str, float]:
    """Every weight file fp16-sized and under the 16 MiB a shipped file may have: MiB per file."""
    sizes = {str(f.relative_to(folder)): f.stat().st_size for f in folder.rglob("*.safetensors")}
    too_big = [name for name, size in sizes.items() if size > MAX_FILE_BYTES]
    if too_big:
        raise RuntimeError(f"weight files over 16 MiB: {too_big}")
    return {name: round(size / 2**20, 2) for name, size in sizes.items()}


def device_facts(device: torch.device) -> dict[str, Any]:
    if device.type != "cuda":
        return {"device": "cpu", "threads": torch.get_num_threads()}
    return {
        "device": torch.cuda.get_device_name(device),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 2),
        "torch": torch.__version__,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train, export, pack; returns the summary it writes."""
    from cascade.training.export import export_recipe
    from cascade.training.multi_stage import train_cascade

    began = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    config = build_config(args)
    seconds: dict[str, float] = {}
    figures = train_cascade(config, args.run, device=device, progress=args.progress)
    seconds["train"] = time.monotonic() - began
    model = args.run / "export" / MODEL_NAME
    shutil.rmtree(model, ignore_errors=True)
    export_recipe(args.run, model, notes="Trained by `python -m cascade.training.gpu_run`.")
    weights = check_weights(model)
    seconds["export"] = time.monotonic() - began - seconds["train"]
    parts = pack(model, args.out)
    shutil.copyfile(args.run / LOG, args.out / LOG)
    seconds["total"] = time.monotonic() - began
    summary = {
        "command": " ".join(sys.argv),
        "config": asdict(config),
        "figures": figures,
        "weights_mib": weights,
        "parts": [p.name for p in parts],
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        **device_facts(device),
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def unpack(out: Path, destination: Path) -> Path:
    """What the docstring's shell line does, for tests and scripts: the model folder from its parts."""
    destination.mkdir(parents=True, exist_ok=True)
    parts = sorted(out.glob("model.tar.*"))
    joined = subprocess.run(["cat", *map(str, parts)], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(destination)], input=joined, check=True)
    return destination / MODEL_NAME


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, required=True, help="training budget, calibration included")
    parser.add_argument("--out", type=Path, required=True, help="where the packed model and logs go ($OUT)")
    parser.add_argument("--run", type=Path, default=Path("/tmp/gpu_run"), help="run folder (resumes)")
    parser.add_argument("--config", type=Path, help="a RecipeConfig JSON instead of the shipped recipe")
    parser.add_argument("--steps", type=int, help="fixed steps per stage instead of the budget (dry runs)")
    parser.add_argument("--batch-size", type=int, help="one batch size for every stage (dry runs)")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, help="default: on CUDA only")
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    summary = run(parse_args(argv))
    for name, stage in summary["figures"]["stages"].items():
        print(f"{name}: {stage['steps']} steps, loss {stage['loss']:.4f}, {stage['images']} images")
    figures = summary["figures"]
    print(
        f"{figures['images_per_s']:.0f} images/s over {figures['elapsed_s']:.0f} s; parts {summary['parts']}"
    )
    print(json.dumps(summary["seconds"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
