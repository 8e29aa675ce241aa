"""`cascade render` killed with SIGKILL at random moments, or stopped with Ctrl-C, then rerun: the folder
ends with exactly the expected images, none duplicated or truncated, every one matching the manifest
and a clean run's bytes."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import PIL.Image

from cascade.render import read_records
from tests.render.render_helpers import PROMPTS, pngs, write_lines

REPO = Path(__file__).resolve().parents[2]
DEADLINE_S = 120
KILLS = 4


def start(prompts: Path, out: Path, model: Path, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "cascade.render", str(prompts), "--out", str(out), "--model", str(model),
               "--batch-size", "3", "--no-progress"]  # fmt: skip
    with open(log, "ab") as stream:
        return subprocess.Popen(command, cwd=REPO, stdout=stream, stderr=stream)


def image_records(out: Path) -> list[dict]:
    return [r for r in read_records(out) if r["type"] == "image"]


def wait_until(process: subprocess.Popen, condition, what: str) -> bool:
    """Poll until `condition()` holds (True) or the process has exited (False); fail at the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if condition():
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.01)
    process.kill()
    raise AssertionError(f"timed out waiting for {what}")


def prompt_file(tmp_path: Path) -> tuple[Path, list[str]]:
    lines = [{"prompt": p, "size": 64 if i % 2 else 16, "steps": 2, "n": 2} for i, p in enumerate(PROMPTS)]
    return write_lines(tmp_path / "p.jsonl", lines), [
        f"{i + 1}_{k}.png" for i in range(len(PROMPTS)) for k in (0, 1)
    ]


def assert_whole_and_recorded(out: Path, expected: list[str]) -> None:
    kept = ["manifest.jsonl", "verdicts.jsonl"]
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == sorted([*expected, *kept])
    records = image_records(out)
    assert Counter(r["file"] for r in records) == Counter(expected)  # one record per image, none twice
    for record in records:
        assert hashlib.sha256((out / record["file"]).read_bytes()).hexdigest() == record["sha256"]


def test_sigkill_at_random_moments_then_rerun_gives_exactly_the_clean_images(tmp_path, own_folder):
    prompts, expected = prompt_file(tmp_path)
    out, log = tmp_path / "out", tmp_path / "log.txt"
    rng = random.Random(1234)
    # kill once this many images are recorded (0: while it starts), leaving work for the final rerun
    targets = sorted(rng.sample(range(len(expected) - 4), KILLS))
    killed = 0
    for target in targets:
        process = start(prompts, out, own_folder, log)
        if wait_until(process, lambda t=target: len(image_records(out)) >= t, f"{target} images"):
            time.sleep(
                rng.uniform(0, 0.15)
            )  # a random offset: land anywhere in the next image's work or writes
            process.send_signal(signal.SIGKILL)
            killed += 1
        process.wait(DEADLINE_S)
        for png in out.glob("*.png"):  # whatever a kill leaves, no image is ever half written
            with PIL.Image.open(png) as image:
                image.load()
    assert killed >= KILLS - 1, log.read_text()

    process = start(prompts, out, own_folder, log)
    assert process.wait(DEADLINE_S) == 0, log.read_text()
    assert_whole_and_recorded(out, expected)
    assert not any(p.name.startswith(".") for p in out.iterdir())

    clean = tmp_path / "clean"
    assert start(prompts, clean, own_folder, log).wait(DEADLINE_S) == 0
    assert pngs(out) == pngs(clean)


def test_ctrl_c_finishes_the_batch_in_flight_exits_130_and_a_rerun_completes(tmp_path, own_folder):
    prompts, expected = prompt_file(tmp_path)
    out, log = tmp_path / "out", tmp_path / "log.txt"
    process = start(prompts, out, own_folder, log)
    assert wait_until(process, lambda: len(image_records(out)) >= 1, "the first image"), log.read_text()
    os.kill(process.pid, signal.SIGINT)
    assert process.wait(DEADLINE_S) == 130, log.read_text()
    assert "interrupted" in log.read_text()
    done = [r["file"] for r in image_records(out)]
    assert 0 < len(done) < len(expected)
    assert_whole_and_recorded(out, done)

    assert start(prompts, out, own_folder, log).wait(DEADLINE_S) == 0, log.read_text()
    assert_whole_and_recorded(out, expected)
