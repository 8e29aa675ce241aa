"""`cascade eval`: measure a model (`adherence`) or the prompt filter (`safety`).

cascade eval adherence --model PATH [--sizes 64,256] [--n 320] [--out DIR]
cascade eval safety [--split test|calibration|dev|all] [--errors] [--no-timing] [--calibrate]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cascade.errors import InvalidRequestError
from cascade.evaluation import safety as safety_eval
from cascade.evaluation.adherence import EVAL_SIZE, adherence_report, eval_suite, format_report
from cascade.pipeline import Cascade


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

    safety = metrics.add_parser(
        "safety", help="recall and false positives of the prompt filter on its labelled prompts"
    )
    safety_eval.add_arguments(safety)


def run(args: argparse.Namespace) -> int:
    return {"adherence": _run_adherence, "safety": safety_eval.run}[args.metric](args)


def _run_adherence(args: argparse.Namespace) -> int:
    from cascade import default_model_path

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
