"""Train the shipped demo cascade: its three stages at once, for a wall-clock budget, then export.

`python -m cascade.training.demo --runs runs/demo --minutes 6 --out cascade/models/demo`

The three stages train in parallel processes sharing one GPU, each for the same number of minutes:
a lent GPU is had for minutes, not for a number of steps. Rerunning the same command resumes every
stage from its last checkpoint. Sizes are picked so that the fp16 export stays under 64 MiB and a
1024 px image renders on 2 CPU cores in about a minute (docs/TRAINING.md).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

# stage: `cascade train` settings; workers are DataLoader processes (16 CPU cores on the lent machine).
DEMO_RECIPE: dict[str, dict[str, object]] = {
    "base": {"width": 48, "levels": 3, "attention_from_level": 2, "batch_size": 128, "workers": 5},
    "sr256": {"width": 32, "levels": 3, "attention_from_level": 2, "batch_size": 64, "workers": 3},
    "sr1024": {
        "width": 32,
        "levels": 4,
        "attention_from_level": 4,  # none: 1024 px attention costs seconds a step on CPU
        "mid_attention": False,
        "batch_size": 32,
        "workers": 7,
    },
}
MAX_STEPS = 1_000_000  # the time budget, not the step count, ends a demo run


def stage_arguments(stage: str, run_dir: Path, minutes: float) -> list[str]:
    """`cascade train` arguments for one stage of the recipe."""
    recipe = DEMO_RECIPE[stage]
    arguments = [
        "--stage",
        stage,
        "--out",
        str(run_dir),
        "--steps",
        str(MAX_STEPS),
        "--max-minutes",
        str(minutes),
    ]
    for key in ("width", "levels", "attention_from_level", "batch_size", "workers"):
        arguments += ["--" + key.replace("_", "-"), str(recipe[key])]
    if recipe.get("mid_attention") is False:
        arguments.append("--no-mid-attention")
    return arguments


def train_parallel(runs: Path, minutes: float, stages: list[str]) -> None:
    """One process per stage; each one's output goes to `<run>/train.log`."""
    children = []
    for stage in stages:
        run_dir = runs / stage
        run_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "cascade.training.demo", "--only", stage, "--runs", str(runs)]
        command += ["--minutes", str(minutes)]
        log = (run_dir / "train.log").open("a")
        env = {**os.environ, "OMP_NUM_THREADS": "2"}  # the main process only noises batches; workers do data
        children.append(
            (stage, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env), log)
        )
    failed = []
    for stage, child, log in children:
        if child.wait() != 0:
            failed.append(f"{stage} (exit {child.returncode}, see {runs / stage / 'train.log'})")
        log.close()
    if failed:
        raise SystemExit("training failed: " + ", ".join(failed))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cascade.training.demo", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--runs", type=Path, required=True, help="folder for the three run folders")
    parser.add_argument("--minutes", type=float, required=True, help="training wall time of every stage")
    parser.add_argument("--out", type=Path, help="export the cascade here after training")
    parser.add_argument("--stages", nargs="+", default=list(DEMO_RECIPE), choices=list(DEMO_RECIPE))
    parser.add_argument("--only", choices=list(DEMO_RECIPE), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.only:
        from cascade.training.cli import add_train_arguments, run_train

        train_parser = argparse.ArgumentParser()
        add_train_arguments(train_parser)
        return run_train(
            train_parser.parse_args(stage_arguments(args.only, args.runs / args.only, args.minutes))
        )
    train_parallel(args.runs, args.minutes, args.stages)
    if args.out:
        from cascade.training.export import export_cascade

        print(f"wrote {export_cascade([args.runs / s for s in args.stages], args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
