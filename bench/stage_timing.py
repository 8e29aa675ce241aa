"""Seconds per image of the CPU recipe's stages (`cascade/training/stage_sizes.py`) against the demo cascade.

    python bench/stage_timing.py [--repeats 3] [--threads 2]

The recipe's U-Nets get random weights (time does not depend on training), are saved as a model folder
in our format with the recipe's sampling settings as stage defaults, and load back through
`Cascade.from_pretrained`; every image then goes the whole `generate()` path (prompt screen, text
encoder, every stage up to its size, output check and watermark), as does the shipped demo cascade at
its own defaults in the same run. Each figure is the median of `--repeats` images, after one warm-up
image at the largest size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from cascade import Cascade, default_model_path
from cascade.training.stage_sizes import BUDGET_S, untrained_cascade

PROMPT = "three green hexagons above a red star"


def seconds_per_image(cascade: Cascade, size: int, repeats: int) -> float:
    """Median wall time of one `generate()` at `size` with the model's defaults."""
    seconds = []
    for seed in range(repeats):
        began = time.perf_counter()
        cascade.generate(PROMPT, seed=seed, size=size, progress=False)
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds)


def defaults(cascade: Cascade) -> str:
    """Each stage's default sampling: what a figure of the table was measured with."""
    specs = [stage.spec for stage in cascade.stages]
    return ", ".join(
        f"{s.name} {s.solver} {s.steps} steps x strength {s.strength}, guidance {s.guidance}" for s in specs
    )


def stage_sizes_table(root: Path, cascade: Cascade) -> list[str]:
    """Parameters and fp16 bytes per stage: what the model folder costs to ship."""
    rows = ["| stage | params | fp16 MiB | largest file MiB |", "| --- | ---: | ---: | ---: |"]
    for stage in cascade.stages:
        files = [f.stat().st_size / 2**20 for f in (root / stage.spec.path).rglob("*.safetensors")]
        params = sum(p.numel() for p in stage.unet.parameters()) / 1e6
        rows.append(f"| {stage.spec.name} | {params:.2f} M | {sum(files):.1f} | {max(files):.1f} |")
    return rows


def load_average() -> str:
    """Other work on the machine slows every figure: the bench says how busy it was."""
    return "load average (1, 5, 15 min) " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="images per size (the median is reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        untrained_cascade().save_pretrained(root)
        recipe = Cascade.from_pretrained(root)
        demo = Cascade.from_pretrained(default_model_path())
        print(
            f"cpu, torch threads {torch.get_num_threads()}, {args.repeats} images per size, {load_average()}"
        )
        print("\n".join(stage_sizes_table(root, recipe)) + "\n")
        for name, cascade in (("recipe", recipe), ("demo", demo)):
            print(f"{name}: {defaults(cascade)}")
            cascade.generate(PROMPT, seed=0, size=cascade.sizes[-1], progress=False)  # warm-up
        print("| size | recipe s/image | target s | met? | demo s/image | demo / recipe |")
        print("| ---: | ---: | ---: | --- | ---: | ---: |")
        for size in recipe.sizes:
            ours = seconds_per_image(recipe, size, args.repeats)
            theirs = seconds_per_image(demo, size, args.repeats)
            budget = BUDGET_S[size]
            met = "yes" if ours <= budget else "no"
            print(f"| {size} | {ours:.1f} | {budget:.0f} | {met} | {theirs:.1f} | {theirs / ours:.1f}x |")
        print(f"at the end: {load_average()}")


if __name__ == "__main__":
    main()
