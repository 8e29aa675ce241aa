"""Wall time of one image per size with the shipped demo cascade, and a grid of its samples.

    python bench/demo_samples.py [--out docs/demo_samples.png]

Each size renders the same prompts and seeds with the model's default settings, one image per call, as
`cascade generate` does; the times are per image on this machine's CPU threads. The grid has one row per
prompt and one column per size (64 and 256 px images are shown upscaled, nearest-neighbour, so every
cell is the same size).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import PIL.Image
import torch

from cascade import Cascade, default_model_path

PROMPTS = ("exactly three black circles", "three green hexagons")
SEEDS = (11, 1)
CELL = 256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/demo_samples.png"))
    parser.add_argument("--cell", type=int, default=CELL, help="pixels per grid cell")
    args = parser.parse_args()
    cascade = Cascade.from_pretrained(default_model_path())
    cascade.generate(PROMPTS[0], seed=0, size=cascade.sizes[0], steps=2, progress=False)  # warm-up
    grid = PIL.Image.new("RGB", (args.cell * len(cascade.sizes), args.cell * len(PROMPTS)), "white")
    print(f"{default_model_path()}, cpu, torch threads {torch.get_num_threads()}")
    print("| size | seconds per image (each prompt) | median |")
    print("| ---: | --- | ---: |")
    for column, size in enumerate(cascade.sizes):
        seconds = []
        for row, (prompt, seed) in enumerate(zip(PROMPTS, SEEDS, strict=True)):
            began = time.perf_counter()
            image = cascade.generate(prompt, seed=seed, size=size, progress=False)[0]
            seconds.append(time.perf_counter() - began)
            cell = image.resize((args.cell, args.cell), PIL.Image.Resampling.NEAREST)
            grid.paste(cell, (column * args.cell, row * args.cell))
        each = ", ".join(f"{s:.1f}" for s in seconds)
        print(f"| {size} | {each} | {statistics.median(seconds):.1f} |")
    grid.save(args.out)
    print(f"grid: {args.out} (rows: {'; '.join(PROMPTS)})")


if __name__ == "__main__":
    main()
