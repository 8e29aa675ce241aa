"""Seconds from `cascade render` starting to its first image on disk, for a large prompt file.

Runs the real command in a fresh process (imports, reading, planning, the prompt filter, model load and
the first batch all count) on the tiny random-weight test cascade and a file of distinct prompts, polls
the output folder for the first PNG, then stops the run with Ctrl-C. The baseline row is the same
command on a one-line file, so the ratio says what the file's size costs before the first image. Each
row is the median of --repeats runs, the two files taking turns (start-up time drifts by seconds here).

    python bench/render_first_image.py [--lines 100000] [--size 16] [--steps 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from render import WORDS
from tiny import tiny_models


def write_prompts(path: Path, count: int) -> Path:
    """`count` distinct prompts, one a line."""
    with path.open("w") as file:
        for i in range(count):
            file.write(f"a {WORDS[i % 5]} {WORDS[5 + (i // 5) % 6]} number {i} above a circle\n")
    return path


def first_image_s(prompts: Path, model: Path, out: Path, args) -> float:
    """Seconds until the first PNG lands in `out` (emptied first); the run is then interrupted."""
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "cascade.render", str(prompts), "--out", str(out), "--model", str(model)]
    command += ["--size", str(args.size), "--steps", str(args.steps), "--no-progress"]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not any(out.glob("*.png")):
            if process.poll() is not None:
                raise SystemExit(f"render ended (exit {process.returncode}) before writing an image")
            time.sleep(0.02)
        return time.perf_counter() - start
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=300)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = tiny_models().build_own_cascade(root / "model")
        files = {
            1: write_prompts(root / "one.txt", 1),
            args.lines: write_prompts(root / "many.txt", args.lines),
        }
        times: dict[int, list[float]] = {count: [] for count in files}
        for _ in range(args.repeats):
            for count, prompts in files.items():
                times[count].append(first_image_s(prompts, model, root / "out", args))
    one, many = median(times[1]), median(times[args.lines])
    print(f"| prompt file | first image (s) |\n| --- | --- |\n| 1 line | {one:.1f} |")
    print(f"| {args.lines:,} lines | {many:.1f} ({many / one:.2f}x the 1-line run) |")
    print("runs (s):", {count: [round(t, 1) for t in runs] for count, runs in times.items()})


if __name__ == "__main__":
    main()
