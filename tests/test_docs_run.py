"""Docs that run: every command and code block of README.md and docs/*.md is run by a test here (on tiny
models where the real one is slow), run by another test named in RUN_ELSEWHERE, or listed in NOT_RUN
with the reason. A new block that is none of these fails the suite, and so does a stale key."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import PIL.Image
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BIN = Path(sys.executable).parent
# A line that is a command: optional `$ ` prompt, optional VAR=value words, then one of these programs.
COMMAND = re.compile(r"^(\$ )?(\w+=\S+ )*(\S*/)?(cascade|python3?|curl|pip|ray)\b", re.M)
RUN_LANGS = {"python", "bash", "sh", "console"}


def blocks() -> dict[str, str]:
    """Every fenced block that is code or holds command lines, keyed "FILE: its first line" (40 chars)."""
    found: dict[str, str] = {}
    for path in DOC_FILES:
        for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", path.read_text(), re.M | re.S):
            if lang in RUN_LANGS or (not lang and COMMAND.search(body)):
                first = next(line for line in body.splitlines() if line.strip()).strip()
                key = f"{path.relative_to(ROOT)}: {' '.join(first.split())[:40].rstrip()}"
                base, n = key, 1
                while key in found:  # a repeated first line: the second block is "KEY #2", and so on
                    n += 1
                    key = f"{base} #{n}"
                found[key] = body
    return found


def block(key: str) -> str:
    return blocks()[key]


README_INSTALL = "README.md: python3 -m venv .venv && . .venv/bin/act"
README_PYTHON = "README.md: from cascade import Cascade"
README_SYNOPSIS = 'README.md: cascade generate "PROMPT" [--seed N] [--'
RENDER_SYNOPSIS = "docs/RENDER.md: cascade render PROMPTS --out DIR [--mode"
SERVER_SYNOPSIS = "docs/SERVER.md: cascade serve --model PATH [--host 127.0"
SERVER_HASH_KEY = 'docs/SERVER.md: python -c "from server.auth import hash_'
SAFETY_VERIFY = "docs/SAFETY.md: $ cascade watermark verify out/*.png # o"
SAFETY_EVAL = "docs/SAFETY.md: $ python -m safety.eval # --split calibr"

RUN_HERE = {
    README_INSTALL,
    README_PYTHON,
    README_SYNOPSIS,
    RENDER_SYNOPSIS,
    SERVER_SYNOPSIS,
    SERVER_HASH_KEY,
    SAFETY_VERIFY,
    SAFETY_EVAL,
}
# docs/SERVER.md's two OpenAI SDK examples, run as written against a live tiny-model server there.
RUN_ELSEWHERE = {
    "docs/SERVER.md: import base64": "tests/server/test_docs_examples.py",
    "docs/SERVER.md: import base64 #2": "tests/server/test_docs_examples.py",
    "docs/SERVER.md: from openai import OpenAI": "tests/server/test_docs_examples.py",
}
NOT_RUN = {
    "README.md: . .venv/bin/activate && python -m pytest": "runs the whole test suite, this file included",
    "docs/BENCHMARKS.md: python bench/render.py # 32 images, 64 p": "a benchmark: minutes",
    "docs/BENCHMARKS.md: python bench/serve.py --seconds 20 --cli": "a benchmark: minutes",
    "docs/BENCHMARKS.md: python bench/soak.py --minutes 30 # the": "a soak test: 30 minutes",
    "docs/RENDER.md: # every node: the same Python environmen": "needs a Ray cluster and IF weights",
    "docs/SERVER.md: curl -N http://127.0.0.1:8000/v1/generat": (
        "needs a running server; the /v1/generate SSE stream is specified in tests/server/test_stream.py"
    ),
    "docs/SERVER.md: cascade serve --ray --replicas 2 --model": (
        "needs a real model and minutes; tests/server/test_ray_serve.py serves the same app on a loopback Ray"
    ),
    "docs/SERVER.md: ray start --head --port 6379 --num-gpus": "needs a multi-node GPU cluster",
    "docs/SERVER.md: WEB_PAGE_SCREENSHOTS=docs .venv/bin/pyth": "rewrites the screenshots",
    "docs/TRAINING.md: cascade train --stage base --out runs/ba": (
        "trains for hours; even 2 steps of each full-width stage take 2 minutes on 2 CPU cores"
        " (tests/training/test_train_cli.py trains tiny ones)"
    ),
    "docs/TRAINING.md: python -m cascade.training.demo --runs r": "trains for minutes on a GPU",
    "docs/TRAINING.md: cascade train --recipe new --out runs/ne": (
        "trains every stage for minutes (tests/training/test_train_cli.py and test_gpu_run.py run tiny ones)"
    ),
    "docs/TRAINING.md: python bench/train_recipe.py --minutes 1": (
        "a benchmark: 22 minutes (tests/test_train_recipe_bench.py runs it at a toy budget)"
    ),
    "docs/BENCHMARKS.md: python bench/stage_timing.py --repeats 3": "a benchmark: 6 minutes",
    "docs/BENCHMARKS.md: python bench/draw_rate.py --batch 64": "a benchmark (tests/data/test_torch_draw.py)",
    "docs/TRAINING.md: cascade eval adherence --model models/de": (
        "evaluates hundreds of prompts: minutes (tests/evaluation/test_eval_cli.py runs it on a tiny model)"
    ),
}


def test_every_block_is_run_or_listed():
    keys = set(blocks())
    untested = keys - RUN_HERE - set(RUN_ELSEWHERE) - set(NOT_RUN)
    assert not untested, f"doc blocks neither run nor in NOT_RUN: {sorted(untested)}"


def test_every_listed_key_still_names_a_block():
    keys = set(blocks())
    for table in (RUN_HERE, RUN_ELSEWHERE, NOT_RUN):
        stale = set(table) - keys
        assert not stale, f"keys that match no doc block any more: {sorted(stale)}"


def test_the_server_docs_python_blocks_are_the_ones_run_elsewhere():
    from tests.server.test_docs_examples import example

    server_blocks = [b for k, b in blocks().items() if k.startswith("docs/SERVER.md: import base64")]
    assert sorted(server_blocks) == sorted([example("n=2,"), example("stream=True")])


def cli(command: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """`command` as a shell line, with the venv's `cascade` and `python` first on PATH."""
    path = f"{BIN}{os.pathsep}{os.environ['PATH']}"
    full_env = {**os.environ, "PATH": path, **(env or {})}
    return subprocess.run(
        command, shell=True, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300
    )


def flags(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])--[a-z][\w-]*", text))


def synopsis_of(key: str, command: str) -> str:
    """The lines of a synopsis block for `cascade COMMAND`: its line and the indented ones after it."""
    lines, taken = [], False
    for line in block(key).splitlines():
        if not line.startswith(" "):
            taken = line.startswith(f"cascade {command} ")
        if taken:
            lines.append(line)
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("key", "command"),
    [
        (README_SYNOPSIS, "generate"),
        (README_SYNOPSIS, "upscale"),
        (RENDER_SYNOPSIS, "render"),
        (SERVER_SYNOPSIS, "serve"),
    ],
)
def test_every_flag_a_synopsis_names_is_in_the_commands_help(key, command, tmp_path):
    documented = synopsis_of(key, command)
    assert documented, f"{key} has no `cascade {command}` line"
    help_command = f"cascade {command} --help"
    done = cli(help_command, tmp_path)
    assert done.returncode == 0, done.stderr
    missing = {f for f in flags(documented) if f not in flags(done.stdout)} - {"--version"}
    assert not missing, f"{key} names flags that `{help_command}` does not have: {sorted(missing)}"


def test_the_synopses_other_command_lines_answer(tmp_path):
    assert "cascade --version" in block(README_SYNOPSIS)
    assert cli("cascade --version", tmp_path).returncode == 0
    assert "python -m server --model PATH" in block(SERVER_SYNOPSIS)
    done = cli("python -m server --help", tmp_path)
    assert done.returncode == 0 and flags(block(SERVER_SYNOPSIS)) <= flags(done.stdout) | {"--version"}


def test_the_readmes_first_command_renders_star_png(own_folder, tmp_path):
    # The venv and pip install need the network and minutes; the rest of the line (`cascade generate ...`)
    # runs here, on the tiny model through $CASCADE_MODEL (the README's own way to pick the default model),
    # with --steps 2 added because the tiny random-weight model gains nothing from its default steps.
    generate = block(README_INSTALL).strip().split(" && ")[-1]
    assert generate.startswith("cascade generate ")
    done = cli(generate + " --steps 2", tmp_path, env={"CASCADE_MODEL": str(own_folder)})
    assert done.returncode == 0, done.stderr
    assert PIL.Image.open(tmp_path / "star.png").size == (64, 64)


# README's Python block, with what must change for tiny models: (documented, substituted, why).
def python_substitutions(
    own_folder: Path, if_folders: dict[str, Path], upscaler: Path
) -> list[tuple[str, str]]:
    return [
        ('"path/to/model"', repr(str(own_folder))),  # the doc's placeholder folder
        ("size=256", "size=32"),  # the tiny own-format cascade has 16, 32 and 64 px
        ("steps=(50, 25)", "steps=(2, 2)"),  # tiny random weights: more steps only cost time
        ('"IF-I-XL-v1.0"', repr(str(if_folders["stage_I"]))),  # real IF weights are GBs
        ('"IF-II-L-v1.0"', repr(str(if_folders["stage_II"]))),
        ('"stable-diffusion-x4-upscaler"', repr(str(upscaler))),
        ('device="cuda"', 'device="cpu"'),  # no GPU here
    ]


def test_the_readmes_python_example_runs(
    own_folder, if_geometry_folders, upscaler_folder, tmp_path, monkeypatch
):
    code = block(README_PYTHON)
    for documented, substituted in python_substitutions(own_folder, if_geometry_folders, upscaler_folder):
        assert documented in code, f"README's Python block no longer has {documented}"
        code = code.replace(documented, substituted)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "docs_example"}
    exec(compile(code, "README.md", "exec"), namespace)
    assert PIL.Image.open(tmp_path / "star.png").size == (32, 32)
    assert namespace["pipe"].sizes == (64, 256, 1024)


def test_watermark_verify_answers_as_documented(tmp_path):
    from safety import watermark

    (tmp_path / "out").mkdir()
    plain = PIL.Image.new("RGB", (256, 256), (120, 90, 60))
    watermark.embed(plain).save(tmp_path / "out" / "a.png")
    plain.save(tmp_path / "out" / "b.png")
    line = block(SAFETY_VERIFY).splitlines()[0].removeprefix("$ ").split("#")[0]
    done = cli(line, tmp_path)
    assert done.returncode == 1, done.stderr  # the doc: exit 1 if any lacks the mark
    out = done.stdout.splitlines()
    assert out[0].startswith("ok       out/a.png: watermark 'imagen-cascade' found")
    assert out[1].startswith("MISSING  out/b.png: no 'imagen-cascade' watermark")


def test_eval_safety_runs(tmp_path):
    line = block(SAFETY_EVAL).splitlines()[0].removeprefix("$ ").split("#")[0]
    done = cli(line, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "false positives" in done.stdout


def test_hash_key_prints_a_sha256_hash(tmp_path):
    line = block(SERVER_HASH_KEY).split("   #")[0].strip()
    done = cli(line, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("sha256:") and shlex.split(line)[0] == "python"
