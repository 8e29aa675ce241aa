"""`cascade` command line: one entry point whose subcommands build the same request objects as the API."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from cascade.errors import CascadeError
from cascade.evaluation.cli import add_arguments as add_eval_arguments
from cascade.evaluation.cli import run as run_eval
from cascade.render.cli import add_arguments as add_render_arguments
from cascade.render.cli import run as run_render
from cascade.training.cli import add_export_arguments, add_train_arguments, run_export, run_train
from safety.cli import add_arguments as add_watermark_arguments
from safety.cli import run as run_watermark
from server.cli import add_arguments as add_serve_arguments
from server.cli import run as run_serve


def _per_stage(cast):
    """Parse `50` or `50,25,25` (one value for every stage, or one per stage)."""

    def parse(text: str):
        try:
            values = [cast(part) for part in text.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a number or comma-separated numbers, got {text!r}"
            ) from None
        return values[0] if len(values) == 1 else tuple(values)

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cascade", description="Cascaded text-to-image diffusion.")
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="render one image from a prompt")
    gen.add_argument("prompt")
    gen.add_argument("--model", type=Path, help="model folder (default: $CASCADE_MODEL or the shipped demo)")
    gen.add_argument(
        "--stage-II", dest="stage_II", type=Path, help="IF stage II folder (with an IF stage I --model)"
    )
    gen.add_argument("--stage-III", dest="stage_III", type=Path, help="IF stage III (x4 upscaler) folder")
    gen.add_argument("--seed", type=int, help="random seed (default: random, printed)")
    gen.add_argument(
        "--size", type=int, default=64, help="output size in pixels: 64, 256 or 1024 (default 64)"
    )
    gen.add_argument("--steps", type=_per_stage(int), help="denoising steps: one value or one per stage")
    gen.add_argument("--guidance", type=_per_stage(float), help="guidance scale: one value or one per stage")
    gen.add_argument("--negative-prompt", help="what to steer away from")
    gen.add_argument("--solver", choices=["ddpm", "ddim", "dpm++2m"], help="default: the one saved per stage")
    gen.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    gen.add_argument(
        "--dtype", help="float32, bfloat16 or float16 (default: float32 on cpu, bfloat16 on cuda)"
    )
    gen.add_argument("--out", type=Path, default=Path("image.png"), help="output PNG (default image.png)")
    for name, help_text, add_arguments, _ in SUBCOMMANDS:
        add_arguments(commands.add_parser(name, help=help_text))
    return parser


def run_generate(args: argparse.Namespace) -> int:
    from cascade import Cascade, default_model_path

    model = args.model or default_model_path()
    pipe = Cascade.from_pretrained(
        model, stage_II=args.stage_II, stage_III=args.stage_III, device=args.device, dtype=args.dtype
    )
    image = pipe.generate(
        args.prompt,
        seed=args.seed,
        size=args.size,
        steps=args.steps,
        guidance=args.guidance,
        negative_prompt=args.negative_prompt,
        solver=args.solver,
    )[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("prompt", args.prompt)
    for key, value in image.info.items():
        info.add_text(key, value)
    image.save(args.out, pnginfo=info)
    print(f"wrote {args.out} ({image.width}x{image.height}, seed {image.info['seed']})")
    if image.info.get("prompt_truncated") == "True":
        print("note: the prompt was longer than the text encoder's limit and was truncated", file=sys.stderr)
    return 0


SUBCOMMANDS = [
    ("train", "train one stage of a demo cascade on the procedural world", add_train_arguments, run_train),
    ("export", "export trained runs as a model folder", add_export_arguments, run_export),
    ("eval", "measure a model: `cascade eval adherence`", add_eval_arguments, run_eval),
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
COMMANDS = {"generate": run_generate} | {name: run for name, _, _, run in SUBCOMMANDS}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except CascadeError as error:
        print(f"cascade {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
