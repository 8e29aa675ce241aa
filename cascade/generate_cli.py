"""`cascade generate PROMPT`: images from one prompt, checked in full before any weights load.

The order is the point: arguments (argparse), then the request against the model's JSON files (sizes,
steps, solvers each stage supports), then the prompt filter, and only then the model (seconds to
minutes). So every mistake a user can make answers at once, in one line, and exit 2 (cascade/cli.py).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import PIL.Image

from cascade.errors import InvalidRequestError
from cascade.images import FORMATS, decode_picture, encode_image
from cascade.options import (
    ModelOptions,
    add_model_arguments,
    add_sampling_arguments,
    at_least,
    model_options,
)
from cascade.planning import plan_request, stage_records
from cascade.render.writer import make_folder, write_atomic
from cascade.request import GenerationRequest, image_seeds

if TYPE_CHECKING:
    from cascade.request import GenerationResult

MAX_IMAGES = 64  # per call; more is a job for `cascade render`


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt")
    parser.add_argument(
        "--seed", type=int, help="seed of the first image; image i uses seed + i (default: random)"
    )
    parser.add_argument(
        "--n", type=_image_count, default=1, help=f"images to make, 1 to {MAX_IMAGES} (default 1)"
    )
    add_sampling_arguments(parser)
    parser.add_argument(
        "--image",
        type=Path,
        help="img2img: the base stage starts from this picture (any size; resized to --size)",
    )
    parser.add_argument(
        "--mask",
        type=Path,
        help="inpainting, with --image: repaint the white pixels of this picture, keep the rest",
    )
    parser.add_argument(
        "--strength",
        type=float,
        help="img2img: how much of the base stage's schedule runs, in (0, 1] (default 0.7; 1 with --mask)",
    )
    parser.add_argument(
        "--out",
        type=output_file,
        default=Path("image.png"),
        help="output file, .png, .jpg or .webp (default image.png); with --n above 1, NAME_0.png, "
        "NAME_1.png, ... The prompt, seed and settings go in its metadata.",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON line per image (path, seed, settings, verdict, timings)",
    )
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    add_model_arguments(parser, forward_rows=0)


def _image_count(text: str) -> int:
    count = at_least(1)(text)
    if count > MAX_IMAGES:
        raise argparse.ArgumentTypeError(
            f"must be at most {MAX_IMAGES} (use `cascade render` for more), got {count}"
        )
    return count


def output_file(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() not in FORMATS:
        raise argparse.ArgumentTypeError(f"must end in one of {', '.join(sorted(FORMATS))}, got {text!r}")
    return path


def read_input_image(path: Path | None, field: str = "image") -> PIL.Image.Image | None:
    """The `--image` (or `--mask`) picture, fully read, or a one-line error naming the field."""
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InvalidRequestError(field, f"cannot read {path}: {error.strerror or error}") from None
    return decode_picture(data, field, str(path))


def run(args: argparse.Namespace) -> int:
    start = read_input_image(args.image)
    mask = read_input_image(args.mask, "mask")
    requests = [
        GenerationRequest(
            prompt=args.prompt,
            seed=seed,
            size=args.size,
            negative_prompt=args.negative_prompt,
            steps=args.steps,
            guidance=args.guidance,
            solver=args.solver,
            image=start,
            mask=mask,
            strength=args.strength,
        )
        for seed in image_seeds(args.seed, args.n)
    ]
    return make_images(args, model_options(args), requests)


def make_images(args: argparse.Namespace, options: ModelOptions, requests: list[GenerationRequest]) -> int:
    """Plan (no weights yet), screen, load, run and write `requests` (one prompt) to `args.out`: the
    rest of `generate`, and of `upscale`."""
    plan = plan_request(options.spec().stages, requests[0])  # a request's plan ignores prompt and seed
    _screen(requests[0].prompt)
    make_folder(args.out.parent)

    started = time.perf_counter()
    cascade = options.load()
    loaded = time.perf_counter()
    results = cascade.run(requests, progress=args.progress)
    finished = time.perf_counter()

    stages = list(stage_records(plan))
    timings = {"load_s": round(loaded - started, 3), "generate_s": round(finished - loaded, 3)}
    for path, result in zip(output_paths(args.out, len(results)), results, strict=True):
        settings = _settings(result, stages, str(options.path))
        data, watermark = _encoded(result, path, settings)
        write_atomic(path, data)
        if args.json:
            line = {"path": str(path), "seed": result.request.seed, "watermark": watermark, **settings}
            print(json.dumps(line | {"verdict": result.verdict.to_dict(), "timings": timings}))
        else:
            print(f"wrote {path} ({result.image.width}x{result.image.height}, seed {result.request.seed})")
    if results[0].prompt_truncated:
        print("note: the prompt was longer than the text encoder's limit and was truncated", file=sys.stderr)
    return 0


def _screen(prompt: str) -> None:
    """Refuse a prompt before the model loads. The cascade screens it again with its own safeguards
    (an IF folder's add an output check); the filter is built once per process, so that costs ms."""
    from cascade.safeguards import Safeguards  # torch: imported once the request is known to be good

    Safeguards().screen(prompt)


def output_paths(out: Path, count: int) -> list[Path]:
    """`out` itself for one image; NAME_0.EXT, NAME_1.EXT, ... for more."""
    if count == 1:
        return [out]
    return [out.with_name(f"{out.stem}_{index}{out.suffix}") for index in range(count)]


def _settings(result: GenerationResult, stages: list[dict[str, Any]], model: str) -> dict[str, Any]:
    request = result.request
    return {
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "size": request.size,
        "stages": stages,
        "model": model,
        "prompt_truncated": result.prompt_truncated,
    }


def _encoded(result: GenerationResult, path: Path, settings: dict[str, Any]) -> tuple[bytes, str]:
    """The file's bytes, and what its metadata says of the watermark: read back from those bytes, since
    a lossy format can lose a mark the pixels had."""
    from safety import watermark

    format = FORMATS[path.suffix.lower()]
    text = {"prompt": result.request.prompt, "seed": result.request.seed, "settings": json.dumps(settings)}
    label = result.image.info.get("watermark", "off")
    if format != "PNG" and label.startswith(f"{watermark.METHOD}:"):
        with PIL.Image.open(io.BytesIO(encode_image(result.image, format, text))) as lossy:
            label = watermark.label(lossy)
    return encode_image(result.image, format, text | {"watermark": label}), label
