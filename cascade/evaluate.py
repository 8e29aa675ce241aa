"""`cascade eval adherence`: render the fixed eval suite with a model and score it with the scene parser.

Each case renders at every requested size with the same seed, so stage I's picture is shared and the
per-size figures show what the super-resolution stages change: accuracy should not drop, and the
detail figures should rise (docs/TRAINING.md).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from cascade.data.adherence import EVAL_SIZE, EvalCase, eval_suite, evaluate
from cascade.pipeline import Cascade
from cascade.request import GenerationRequest


def render_suite(
    cascade: Cascade,
    cases: Sequence[EvalCase],
    size: int,
    *,
    seed: int = 0,
    batch_size: int = 8,
    out: Path | None = None,
    progress: bool = True,
) -> list:
    """Images for `cases` at `size` (case i uses seed + i), rendered in batches; saved under `out` if set."""
    images = []
    starts = range(0, len(cases), batch_size)
    for start in tqdm(starts, desc=f"eval {size}px", unit="batch", disable=not progress):
        batch = cases[start : start + batch_size]
        requests = [
            GenerationRequest(prompt=case.prompt, seed=seed + start + i, size=size)
            for i, case in enumerate(batch)
        ]
        images += [result.image for result in cascade.run(requests, progress=False)]
    if out is not None:
        folder = out / f"{size}px"
        folder.mkdir(parents=True, exist_ok=True)
        for index, image in enumerate(images):
            image.save(folder / f"{index:04d}.png")
    return images


def adherence_report(
    cascade: Cascade, sizes: Sequence[int], cases: Sequence[EvalCase], **render_options
) -> dict[int, dict[str, dict[str, float]]]:
    """Per size: accuracy per attribute (and overall) and the mean detail figures."""
    return {size: evaluate(render_suite(cascade, cases, size, **render_options), cases) for size in sizes}


def format_report(report: dict[int, dict[str, dict[str, float]]]) -> str:
    """A plain-text table: one row per size, accuracy columns then detail columns."""
    first = next(iter(report.values()))
    columns = [*first["accuracy"], *first["detail"]]
    lines = ["size  " + "  ".join(f"{name:>15}" for name in columns)]
    for size, figures in report.items():
        values = {**figures["accuracy"], **figures["detail"]}
        lines.append(
            f"{size:<5} " + "  ".join(f"{values.get(name, float('nan')):>15.4f}" for name in columns)
        )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    metrics = parser.add_subparsers(dest="metric", required=True)
    adherence = metrics.add_parser("adherence", help="prompt adherence and detail on the fixed eval suite")
    adherence.add_argument(
        "--model", type=Path, help="model folder (default: $CASCADE_MODEL or the shipped demo)"
    )
    adherence.add_argument(
        "--sizes", default=None, help="comma-separated sizes (default: every size the model has)"
    )
    adherence.add_argument(
        "--n", type=int, default=EVAL_SIZE, help=f"number of eval prompts (default {EVAL_SIZE})"
    )
    adherence.add_argument("--seed", type=int, default=0, help="case i renders with seed + i (default 0)")
    adherence.add_argument("--batch-size", type=int, default=8)
    adherence.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    adherence.add_argument("--out", type=Path, help="folder for the images and report.json")


def run(args: argparse.Namespace) -> int:
    from cascade import default_model_path
    from cascade.errors import InvalidRequestError

    if args.n < 1:
        raise InvalidRequestError("n", f"must be at least 1, got {args.n}")
    cascade = Cascade.from_pretrained(args.model or default_model_path(), device=args.device)
    sizes = cascade.sizes if args.sizes is None else tuple(int(s) for s in args.sizes.split(","))
    for size in sizes:
        if size not in cascade.sizes:
            raise InvalidRequestError("sizes", f"{size} is not one of this model's sizes {cascade.sizes}")
    report = adherence_report(
        cascade, sizes, eval_suite(args.n), seed=args.seed, batch_size=args.batch_size, out=args.out
    )
    print(format_report(report))
    if args.out is not None:
        (args.out / "report.json").write_text(
            json.dumps({str(k): v for k, v in report.items()}, indent=2) + "\n"
        )
        print(f"wrote {args.out / 'report.json'}")
    return 0
