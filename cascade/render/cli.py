"""`cascade render PROMPTS --out DIR`: offline batch rendering, resumable, on one machine or on Ray.

Torch loads with the runner, inside `run`: `--help` and argument errors answer without it.
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from cascade.errors import require_extra
from cascade.options import (
    ModelOptions,
    add_model_arguments,
    add_sampling_arguments,
    at_least,
    model_options,
)
from cascade.planning import plan_request
from cascade.render.defaults import DEFAULT_BATCH_SIZE, DEFAULT_FORWARD_ROWS
from cascade.render.inputs import read_prompts
from cascade.render.plan import LinePlan, RenderSettings, check_settings, plan_lines

if TYPE_CHECKING:
    from cascade.render.runner import Backend


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompts", type=Path, help="a .txt (one prompt a line), .jsonl or .csv prompt file")
    parser.add_argument("--out", type=Path, required=True, help="output folder (PNGs and manifest.jsonl)")
    parser.add_argument("--n", type=int, default=1, help="images per prompt line (default 1)")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="run seed; each image's seed derives from it and the line id (default 0)",
    )
    add_sampling_arguments(parser)
    parser.add_argument(
        "--batch-size",
        type=_positive,
        default=DEFAULT_BATCH_SIZE,
        help="requests per stage batch (default 8)",
    )
    parser.add_argument("--grid", type=_positive, metavar="N", help="also write a contact sheet per N images")
    parser.add_argument("--overwrite", action="store_true", help="re-render images whose inputs changed")
    add_model_arguments(parser, forward_rows=DEFAULT_FORWARD_ROWS)
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    ray = parser.add_argument_group("Ray (render on a cluster)")
    ray.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="render on Ray actors; ADDRESS as for ray.init ('auto', 'ray://head:10001'); "
        "alone: $RAY_ADDRESS or a new local instance",
    )
    ray.add_argument("--workers", type=_positive, help="model replicas (default: one per GPU, else per CPU)")
    ray.add_argument("--cpus-per-worker", type=float, default=1.0, help="CPUs per replica (default 1)")
    ray.add_argument(
        "--gpus-per-worker", type=float, help="GPUs per replica (default 1 when the cluster has any)"
    )


def run(args: argparse.Namespace) -> int:
    """The command; exit codes as docs/RENDER.md lists them. Ctrl-C before rendering starts (reading,
    planning) ends it at once, with nothing written."""
    from cascade.render.runner import EXIT_INTERRUPTED, INTERRUPTED  # torch: only once arguments parse

    try:
        return _run(args)
    except KeyboardInterrupt:
        print(f"cascade render: {INTERRUPTED}", file=sys.stderr)
        return EXIT_INTERRUPTED


def _run(args: argparse.Namespace) -> int:
    if args.ray is not None:
        require_extra("cascade render --ray", "ray", "ray")
    lines, bad = read_prompts(args.prompts)
    options = model_options(args)
    model = options.path
    planner = partial(plan_request, options.spec().stages)
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
    return _render(args, options, plans, len(bad))


def _render(args: argparse.Namespace, options: ModelOptions, plans: list[LinePlan], malformed: int) -> int:
    """The run itself, once the file and settings are known to be good (torch loads here)."""
    from cascade.render.runner import render_plans
    from cascade.safeguards import Safeguards

    model = options.path
    checker = Safeguards()
    run_info = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "input": str(args.prompts.resolve()),
        "model": str(model),
        "backend": "local" if args.ray is None else "ray",
        "stage_II": args.stage_II and str(args.stage_II),
        "stage_III": args.stage_III and str(args.stage_III),
        "device": args.device,
        "dtype": args.dtype,
        "batch_size": args.batch_size,
        "forward_rows": args.forward_rows,
        "threads": args.threads,
    }
    summary = render_plans(
        plans,
        args.out,
        _backend(args, options),
        checker,
        overwrite=args.overwrite,
        grid=args.grid or 0,
        progress=args.progress,
        run_info=run_info,
    )
    summary.malformed = malformed
    print(summary)
    return summary.exit_code


def _backend(args: argparse.Namespace, options: ModelOptions) -> Backend:
    if args.ray is not None:
        from cascade.render.ray_runner import render_ray

        def on_ray(jobs, stop):
            return render_ray(
                jobs,
                stop,
                options=options,
                address=args.ray,
                workers=args.workers,
                cpus_per_worker=args.cpus_per_worker,
                gpus_per_worker=args.gpus_per_worker,
                batch_size=args.batch_size,
            )

        return on_ray

    def here(jobs, stop):  # called only when something is left to render
        from cascade.render.local import render_local

        yield from render_local(options.load(), jobs, batch_size=args.batch_size, stop=stop)

    return here


_positive = at_least(1)
