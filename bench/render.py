"""Images/s of `cascade render` (the batching engine) against a plain loop of `Cascade.generate` calls.

Same model, prompts, seeds and settings for every row; model loading is outside every timing, while
PNG encoding and writing are inside (the loop saves with `Image.save`, render writes atomically and
fsyncs its manifest). The tiny random-weight test cascade is built in a temporary folder unless
--model is given.

    python bench/render.py [--model PATH] [--images 32] [--size 64] [--steps N] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from tiny import tiny_models

from cascade import Cascade, ModelOptions
from cascade.render import RenderSettings, plan_lines, read_prompts, render_local, render_plans
from cascade.safeguards import Safeguards

WORDS = ["red", "blue", "green", "yellow", "purple", "star", "ring", "circle", "square", "heart", "cross"]


def prompts(count: int) -> list[str]:
    return [
        f"a {WORDS[i % 5]} {WORDS[5 + (i // 5) % 6]} above a {WORDS[(i * 3) % 5]} circle"
        for i in range(count)
    ]


def time_loop(cascade: Cascade, texts: list[str], args, out: Path) -> float:
    """The baseline: one `generate` call per prompt, saved as it comes."""
    out.mkdir()
    start = time.perf_counter()
    for i, text in enumerate(texts):
        image = cascade.generate(text, seed=i, size=args.size, steps=args.steps, progress=False)[0]
        image.save(out / f"{i}.png")
    return time.perf_counter() - start


def time_render(cascade: Cascade, prompt_file: Path, args, out: Path, batch_size: int) -> float:
    """What `cascade render PROMPTS --out DIR --batch-size N` does once the model is loaded."""
    start = time.perf_counter()
    lines, _ = read_prompts(prompt_file)
    plans, _ = plan_lines(lines, RenderSettings(size=args.size, steps=args.steps), cascade.plan, "bench")
    summary = render_plans(
        plans,
        out,
        lambda jobs, stop: render_local(cascade, jobs, batch_size=batch_size, stop=stop),
        Safeguards(),  # the default filter, as `cascade render` and `generate()` use
        progress=False,
        report=lambda message: None,
    )
    elapsed = time.perf_counter() - start
    assert summary.rendered == len(lines), summary
    return elapsed


ROWS = {
    "loop": "plain loop: Cascade.generate per prompt",
    "fixed": "cascade render --batch-size {batch} --forward-rows {rows}",
    "free": "cascade render --batch-size {batch} --forward-rows 0",
}


def time_row(row: str, model: Path, prompt_file: Path, out: Path, args) -> float:
    """One row, in a process of its own (see `main`)."""
    rows = args.forward_rows if row == "fixed" else 0
    cascade = ModelOptions(model, device=args.device, forward_rows=rows).load()
    texts = prompt_file.read_text().splitlines()
    if row == "loop":
        cascade.generate(texts[0], seed=0, size=args.size, steps=args.steps, progress=False)  # warm up
        return time_loop(cascade, texts, args, out)
    cascade.safeguards.check(texts[0])  # loads the filter, as the loop warm-up does (not the U-Nets)
    return time_render(cascade, prompt_file, args, out, args.batch_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", type=Path, help="model folder (default: the tiny test cascade, built here)"
    )
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, help="steps per stage (default: the model's)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--forward-rows", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--row", choices=ROWS, help=argparse.SUPPRESS)
    parser.add_argument("--prompts", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.row:
        print(time_row(args.row, args.model, args.prompts, args.out, args))
        return

    # Each row runs in a fresh process: a process whose threads have each run torch keeps an OpenMP
    # team per thread, which on a small CPU slows every later step (docs/BENCHMARKS.md).
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        model = args.model
        if model is None:
            model = tiny_models().build_own_cascade(root / "model")
        prompt_file = root / "prompts.txt"
        prompt_file.write_text("\n".join(prompts(args.images)) + "\n")
        options = [
            "--images",
            str(args.images),
            "--size",
            str(args.size),
            "--batch-size",
            str(args.batch_size),
        ]
        options += ["--forward-rows", str(args.forward_rows), "--device", args.device]
        options += ["--steps", str(args.steps)] if args.steps else []
        rows = []
        for row, name in ROWS.items():
            command = [
                sys.executable,
                __file__,
                "--row",
                row,
                "--model",
                str(model),
                "--prompts",
                str(prompt_file),
            ]
            command += ["--out", str(root / row), *options]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            rows.append(
                (name.format(batch=args.batch_size, rows=args.forward_rows), float(output.split()[-1]))
            )

    steps = args.steps or "model default"
    print(
        f"\n{args.images} images, {args.size}px, steps {steps}, model {args.model or 'tiny test cascade'}, "
        f"{args.device}, torch threads {torch.get_num_threads()}, {platform.machine()}"
    )
    print(f"| {'path':<70} | {'seconds':>7} | {'images/s':>8} | {'vs loop':>7} |")
    print(f"| {'-' * 70} | {'-' * 7}:| {'-' * 8}:| {'-' * 7}:|")
    baseline = rows[0][1]
    for name, seconds in rows:
        print(f"| {name:<70} | {seconds:7.2f} | {args.images / seconds:8.2f} | {baseline / seconds:6.2f}x |")


if __name__ == "__main__":
    main()
