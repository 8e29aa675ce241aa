"""`cascade render PROMPTS --out DIR`: offline batch rendering, resumable, on one machine or on Ray."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from cascade import default_model_path
from cascade.render.inputs import parse_per_stage, read_prompts
from cascade.render.local import DEFAULT_BATCH_SIZE, DEFAULT_FORWARD_ROWS, load_cascade, render_local
from cascade.render.plan import RenderSettings, check_settings, plan_lines, read_model_spec, spec_planner
from cascade.render.runner import Backend, GracefulStop, render_plans
from cascade.safeguards import Safeguards


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompts", type=Path, help="a .txt (one prompt a line), .jsonl or .csv prompt file")
    parser.add_argument("--out", type=Path, required=True, help="output folder (PNGs and manifest.jsonl)")
    parser.add_argument(
        "--model", type=Path, help="model folder (default: $CASCADE_MODEL or the shipped demo)"
    )
    parser.add_argument("--size", type=int, default=64, help="output size in pixels (default 64)")
    parser.add_argument("--n", type=int, default=1, help="images per prompt line (default 1)")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="run seed; each image's seed derives from it and the line id (default 0)",
    )
    parser.add_argument("--steps", type=_per_stage(int), help="denoising steps: one value or one per stage")
    parser.add_argument(
        "--guidance", type=_per_stage(float), help="guidance scale: one value or one per stage"
    )
    parser.add_argument("--negative-prompt", help="what to steer away from (a line's own one wins)")
    parser.add_argument(
        "--solver", choices=["ddpm", "ddim", "dpm++2m"], help="default: the one saved per stage"
    )
    parser.add_argument(
        "--batch-size",
        type=_positive,
        default=DEFAULT_BATCH_SIZE,
        help="requests per stage batch (default 8)",
    )
    parser.add_argument("--grid", type=_positive, metavar="N", help="also write a contact sheet per N images")
    parser.add_argument("--overwrite", action="store_true", help="re-render images whose inputs changed")
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    parser.add_argument(
        "--dtype", help="float32, bfloat16 or float16 (default: float32 on cpu, bfloat16 on cuda)"
    )
    parser.add_argument("--threads", type=_positive, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument(
        "--forward-rows",
        type=_non_negative,
        default=DEFAULT_FORWARD_ROWS,
        help="rows per U-Net forward, fixed so pixels do not depend on batching (default 16; 0: off)",
    )
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    ray = parser.add_argument_group("Ray (render on a cluster)")
    ray.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="render with Ray Data; ADDRESS as for ray.init ('auto', 'ray://head:10001'); "
        "alone: $RAY_ADDRESS or a new local instance",
    )
    ray.add_argument("--workers", type=_positive, help="model replicas (default: one per GPU, else per CPU)")
    ray.add_argument("--cpus-per-worker", type=float, default=1.0, help="CPUs per replica (default 1)")
    ray.add_argument(
        "--gpus-per-worker", type=float, help="GPUs per replica (default 1 when the cluster has any)"
    )


def run(args: argparse.Namespace) -> int:
    lines, bad = read_prompts(args.prompts)
    model = Path(args.model or default_model_path()).resolve()
    planner = spec_planner(read_model_spec(model))
    settings = RenderSettings(
        seed=args.seed,
        n=args.n,
        size=args.size,
        steps=args.steps,
        guidance=args.guidance,
        negative_prompt=args.negative_prompt,
        solver=args.solver,
    )
    check_settings(settings, planner)
    plans, invalid = plan_lines(lines, settings, planner, str(model))
    bad = sorted(bad + invalid, key=lambda b: b.line)
    for line in bad:
        print(f"{args.prompts}:{line.line}: skipped: {line.message}", file=sys.stderr)
    checker = Safeguards()
    run_info = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "input": str(args.prompts.resolve()),
        "model": str(model),
        "backend": "local" if args.ray is None else "ray",
        "device": args.device,
        "dtype": args.dtype,
        "batch_size": args.batch_size,
        "forward_rows": args.forward_rows,
        "threads": args.threads,
    }
    with GracefulStop() as stop:
        summary = render_plans(
            plans,
            args.out,
            _backend(args, model),
            checker,
            overwrite=args.overwrite,
            grid=args.grid or 0,
            progress=args.progress,
            stop=stop.event,
            run_info=run_info,
        )
    summary.malformed = len(bad)
    print(summary)
    return summary.exit_code


def _backend(args: argparse.Namespace, model: Path) -> Backend:
    if args.ray is not None:
        from cascade.render.ray_runner import render_ray

        def on_ray(jobs, stop):
            return render_ray(
                jobs,
                stop,
                model=model,
                address=args.ray,
                workers=args.workers,
                cpus_per_worker=args.cpus_per_worker,
                gpus_per_worker=args.gpus_per_worker,
                batch_size=args.batch_size,
                device=args.device,
                dtype=args.dtype,
                forward_rows=args.forward_rows,
                threads=args.threads,
            )

        return on_ray

    def here(jobs, stop):
        if jobs:  # the model loads only when something is left to render
            cascade = load_cascade(
                model,
                device=args.device,
                dtype=args.dtype,
                forward_rows=args.forward_rows,
                threads=args.threads,
            )
            yield from render_local(cascade, jobs, batch_size=args.batch_size, stop=stop)

    return here


def _per_stage(cast):
    def parse(text: str):
        try:
            return parse_per_stage(text, cast)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a number or comma-separated numbers, got {text!r}"
            ) from None

    return parse


def _at_least(minimum: int):
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


_positive, _non_negative = _at_least(1), _at_least(0)
