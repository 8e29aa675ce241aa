"""`cascade` command line: one entry point whose subcommands build the same request objects as the API."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from cascade.errors import CascadeError
from cascade.evaluation.cli import add_arguments as add_eval_arguments
from cascade.evaluation.cli import run as run_eval
from cascade.images import encode_png
from cascade.options import add_model_arguments, add_sampling_arguments, model_options
from cascade.render.cli import add_arguments as add_render_arguments
from cascade.render.cli import run as run_render
from cascade.training.cli import add_export_arguments, add_train_arguments, run_export, run_train
from safety.cli import add_arguments as add_watermark_arguments
from safety.cli import run as run_watermark


def add_generate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt")
    parser.add_argument("--seed", type=int, help="random seed (default: random, printed)")
    add_sampling_arguments(parser)
    parser.add_argument(
        "--out", type=_png_path, default=Path("image.png"), help="output PNG (default image.png)"
    )
    add_model_arguments(parser, forward_rows=0)


def _png_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() != ".png":
        raise argparse.ArgumentTypeError(
            f"must be a .png file (the prompt and seed go in its text), got {text!r}"
        )
    return path


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    # The server package ships with the base install but its imports need the [server] extra; its
    # argument definitions do not, so `cascade serve --help` works everywhere.
    from server.cli import add_arguments

    add_arguments(parser)


def run_serve(args: argparse.Namespace) -> int:
    from server.cli import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cascade", description="Cascaded text-to-image diffusion.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text, add_arguments, _ in SUBCOMMANDS:
        add_arguments(commands.add_parser(name, help=help_text))
    return parser


def run_generate(args: argparse.Namespace) -> int:
    image = (
        model_options(args)
        .load()
        .generate(
            args.prompt,
            seed=args.seed,
            size=args.size,
            steps=args.steps,
            guidance=args.guidance,
            negative_prompt=args.negative_prompt,
            solver=args.solver,
        )[0]
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(encode_png(image, {"prompt": args.prompt} | image.info))
    print(f"wrote {args.out} ({image.width}x{image.height}, seed {image.info['seed']})")
    if image.info.get("prompt_truncated") == "True":
        print("note: the prompt was longer than the text encoder's limit and was truncated", file=sys.stderr)
    return 0


SUBCOMMANDS = [
    ("generate", "render one image from a prompt", add_generate_arguments, run_generate),
    ("train", "train one stage of a demo cascade on the procedural world", add_train_arguments, run_train),
    ("export", "export trained runs as a model folder", add_export_arguments, run_export),
    ("eval", "measure a model or the filter: `cascade eval adherence|safety`", add_eval_arguments, run_eval),
    (
        "render",
        "render a file of prompts to PNGs (resumable; --ray for a cluster)",
        add_render_arguments,
        run_render,
    ),
    ("serve", "run the HTTP service (OpenAI-compatible; docs/SERVER.md)", add_serve_arguments, run_serve),
    (
        "watermark",
        "check images for the invisible watermark: `cascade watermark verify`",
        add_watermark_arguments,
        run_watermark,
    ),
]
COMMANDS = {name: run for name, _, _, run in SUBCOMMANDS}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except CascadeError as error:
        print(f"cascade {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
