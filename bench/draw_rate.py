"""Images/s of the torch renderer (`cascade.data.torch_draw.draw_scenes`) against the PIL renderer
(`cascade.data.draw.render` + `pil_to_tensor`, what a data worker runs), same scenes, same run.

Both produce (3, S, S) float tensors in [-1, 1]; a crop row renders the full canvas with PIL and cuts the
window, as `WorldDataset` does, while the torch renderer draws only the window. The torch renderer's
one-off distance fields are built before any timing.

    python bench/draw_rate.py [--batch 64] [--device cpu] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from cascade.data.draw import render
from cascade.data.sampler import sample_scene
from cascade.data.torch_draw import draw_scenes
from cascade.images import pil_to_tensor

ROWS = ((64, None), (256, None), (1024, None), (1024, 256))


def torch_rate(scenes, size: int, crop: int | None, offsets: torch.Tensor, device: str) -> float:
    start = time.perf_counter()
    images = draw_scenes(scenes, size, device=device, crop=crop, offsets=offsets if crop else None)
    if images.is_cuda:
        torch.cuda.synchronize()
    return len(scenes) / (time.perf_counter() - start)


def pil_rate(scenes, size: int, crop: int | None, offsets: torch.Tensor) -> float:
    start = time.perf_counter()
    for scene, (left, top) in zip(scenes, offsets.tolist(), strict=True):
        image = render(scene, size)
        if crop:
            image = image.crop((left, top, left + crop, top + crop))
        pil_to_tensor(image)
    return len(scenes) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    scenes = [sample_scene(seed) for seed in range(args.batch)]
    draw_scenes(scenes[:1], 64, device=args.device)  # builds the shape fields
    rng = np.random.default_rng(0)
    print(
        f"batch {args.batch}, device {args.device}, torch threads {torch.get_num_threads()}, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print("| size | crop | torch img/s | PIL img/s (1 process) | torch / PIL |\n|---|---|---|---|---|")
    for size, crop in ROWS:
        offsets = torch.from_numpy(rng.integers(0, size - (crop or size) + 1, (args.batch, 2)))
        ours = torch_rate(scenes, size, crop, offsets, args.device)
        theirs = pil_rate(scenes, size, crop, offsets)
        print(f"| {size} | {crop or '-'} | {ours:.0f} | {theirs:.0f} | {ours / theirs:.2f} |")


if __name__ == "__main__":
    main()
