"""Wall time of one image per size with the shipped demo cascade, its colour fidelity across stages,
and a grid of its samples.

    python bench/demo_samples.py [--out docs/demo_samples.png] [--prompts N]

Each size renders the same prompts and seeds with the model's default settings, one image per call, as
`cascade generate` does; the times are per image on this machine's CPU threads. Colour fidelity: each
larger image, area-downsampled to 64 px, against the 64 px image of the same prompt and seed (the same
stage I output), as the mean absolute difference per pixel and the largest shift of the mean colour, in
levels of 255. The grid has one row per prompt and one column per size (64 and 256 px images are shown
upscaled, nearest-neighbour, so every cell is the same size).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import PIL.Image
import torch

from cascade import Cascade, default_model_path

PROMPTS = (
    "exactly three black circles",
    "three green hexagons",
    "a red star above a blue ring",
    "a yellow heart to the left of a purple square",
    "a large orange triangle in the top-left corner",
    "two white crosses on a dark backdrop",
    "a small cyan circle below a big pink star",
    "four blue stars",
)
SEEDS = (11, 1, 2, 3, 4, 5, 6, 7)
CELL = 256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/demo_samples.png"))
    parser.add_argument("--cell", type=int, default=CELL, help="pixels per grid cell")
    parser.add_argument("--prompts", type=int, default=len(PROMPTS), help="how many of the prompts")
    args = parser.parse_args()
    prompts = list(zip(PROMPTS, SEEDS, strict=True))[: args.prompts]
    cascade = Cascade.from_pretrained(default_model_path())
    base = cascade.sizes[0]
    cascade.generate(PROMPTS[0], seed=0, size=base, progress=False)  # warm-up
    grid = PIL.Image.new("RGB", (args.cell * len(cascade.sizes), args.cell * len(prompts)), "white")
    print(f"{default_model_path()}, cpu, torch threads {torch.get_num_threads()}")
    print("| size | seconds per image (each prompt) | median | mean abs diff to 64 px | largest mean shift |")
    print("| ---: | --- | ---: | ---: | ---: |")
    firsts: list[np.ndarray] = []
    for column, size in enumerate(cascade.sizes):
        seconds, differences, shifts = [], [], []
        for row, (prompt, seed) in enumerate(prompts):
            began = time.perf_counter()
            image = cascade.generate(prompt, seed=seed, size=size, progress=False)[0]
            seconds.append(time.perf_counter() - began)
            small = np.asarray(image.resize((base, base), PIL.Image.Resampling.BOX), dtype=np.float64)
            if column == 0:
                firsts.append(small)
            differences.append(np.abs(small - firsts[row]).mean())
            shifts.append(np.abs(small.mean(axis=(0, 1)) - firsts[row].mean(axis=(0, 1))).max())
            cell = image.resize((args.cell, args.cell), PIL.Image.Resampling.NEAREST)
            grid.paste(cell, (column * args.cell, row * args.cell))
        each = ", ".join(f"{s:.1f}" for s in seconds)
        fidelity = "- | -" if column == 0 else f"{statistics.mean(differences):.1f} | {max(shifts):.1f}"
        print(f"| {size} | {each} | {statistics.median(seconds):.1f} | {fidelity} |")
    grid.save(args.out)
    print(f"grid: {args.out} (rows: {'; '.join(p for p, _ in prompts)})")


if __name__ == "__main__":
    main()
