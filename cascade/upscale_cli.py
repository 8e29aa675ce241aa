"""`cascade upscale PICTURE`: a user's picture through the super-resolution stages only, checked in full
before any weights load, as `cascade generate` is (it shares its planning, screening and writing)."""

from __future__ import annotations

import argparse
from pathlib import Path

from cascade.generate_cli import make_images, output_file, read_input_image
from cascade.options import add_model_arguments, model_options, per_stage, size_argument
from cascade.planning import upscale_size
from cascade.request import GenerationRequest, image_seeds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("image", type=Path, help="the picture to upscale (any size and shape)")
    add(
        "--size",
        type=size_argument,
        help="output size, N or WxH: 256 or 1024, 1536x1024, ... (default: one stage above the largest "
        "stage input the picture's short side covers, in its aspect ratio: 64 px in -> 256, 96x64 -> "
        "384x256, 256 px in -> 1024)",
    )
    add("--prompt", default="", help="what the picture shows: the stages' text conditioning (default none)")
    add("--seed", type=int, help="default: random")
    add("--steps", type=per_stage(int), help="denoising steps: one value or one per stage that runs")
    add("--guidance", type=per_stage(float), help="guidance scale: one value or one per stage that runs")
    add("--strength", type=float, help="how much of the first stage's schedule runs, in (0, 1]")
    add("--out", type=output_file, default=Path("upscaled.png"), help="output file (default upscaled.png)")
    add("--json", action="store_true", help="print one JSON line (path, seed, settings, verdict, timings)")
    add("--no-progress", dest="progress", action="store_false", help="no progress bars")
    add_model_arguments(parser, forward_rows=0)


def run(args: argparse.Namespace) -> int:
    options = model_options(args)
    picture = read_input_image(args.image)
    request = GenerationRequest(
        prompt=args.prompt,
        seed=image_seeds(args.seed, 1)[0],
        size=upscale_size(options.spec().stages, picture) if args.size is None else args.size,
        steps=args.steps,
        guidance=args.guidance,
        strength=args.strength,
        image=picture,
        upscale=True,
    )
    return make_images(args, options, [request])
