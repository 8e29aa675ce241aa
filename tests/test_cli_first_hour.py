"""`cascade` fails fast and cleanly: help and argument errors without torch, one-line errors with exit 2
before any weights load, and `generate`'s --n, --json, --version and output formats."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import PIL.Image
import pytest
import torch

import safety
from cascade import CascadeError
from cascade.cli import main
from cascade.errors import PromptRejected
from cascade.images import read_text
from safety import watermark

# Run in a fresh interpreter: which heavy modules a command imported, and its exit code.
PROBE = """
import sys
from cascade.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
heavy = sorted(name for name in ("torch", "diffusers", "transformers") if name in sys.modules)
print("HEAVY", ",".join(heavy), "CODE", code)
"""


def probe(*argv: str) -> tuple[str, int]:
    heavy, code, _ = probe_with_stderr(*argv)
    return heavy, code


def probe_with_stderr(*argv: str) -> tuple[str, int, list[str]]:
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120)
    line = done.stdout.strip().splitlines()[-1]
    _, heavy, _, code = line.split(" ")
    return heavy, int(code), done.stderr.strip().splitlines()


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["--version"],
        ["generate", "--help"],
        ["render", "--help"],
        ["serve", "--help"],
        ["generate", "a red star", "--size", "nope"],
        ["generate", "a red star", "--out", "x.gif"],
    ],
    ids=["help", "version", "generate-help", "render-help", "serve-help", "bad-type", "bad-format"],
)
def test_help_and_argument_errors_import_no_torch(argv):
    heavy, code = probe(*argv)
    assert heavy == "" and code in (0, 2)


def test_a_size_the_model_lacks_is_refused_from_its_json_files_without_torch(own_folder):
    heavy, code = probe("generate", "a red star", "--model", str(own_folder), "--size", "128")
    assert heavy == "" and code == 2


def test_a_refused_prompt_is_one_line_and_exit_2_before_the_model_loads(own_folder, tmp_path):
    weightless = tmp_path / "model"
    shutil.copytree(own_folder, weightless)
    for weights in weightless.glob("stage_*/unet/*.safetensors"):
        weights.unlink()  # loading would now fail with a CheckpointError instead
    out = tmp_path / "x.png"
    _, code, err = probe_with_stderr(
        "generate", "a naked child", "--model", str(weightless), "--out", str(out)
    )
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("cascade generate: error: This prompt was blocked")
    assert not out.exists()


def test_prompt_rejected_is_a_cascade_error_and_a_safety_one():
    refusal = PromptRejected(safety.check("a naked child"))
    assert isinstance(refusal, CascadeError) and isinstance(refusal, safety.PromptRejected)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_on_a_build_without_it_is_one_line_and_exit_2(own_folder, tmp_path, capsys):
    code = main(
        [
            "generate",
            "a red star",
            "--model",
            str(own_folder),
            "--device",
            "cuda",
            "--out",
            str(tmp_path / "x.png"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "use --device cpu" in err[0]


def test_n_images_with_json_lines_and_seed_plus_i(own_folder, tmp_path, capsys):
    out = tmp_path / "star.png"
    argv = ["generate", "a red star", "--model", str(own_folder), "--size", "16", "--steps", "2"]
    assert main([*argv, "--n", "3", "--seed", "40", "--json", "--no-progress", "--out", str(out)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["path"] for line in lines] == [str(tmp_path / f"star_{i}.png") for i in range(3)]
    assert [line["seed"] for line in lines] == [40, 41, 42]
    first = lines[0]
    assert first["verdict"]["allowed"] and first["stages"][0]["steps"] == 2 and first["size"] == 16
    assert set(first["timings"]) == {"load_s", "generate_s"}
    with PIL.Image.open(tmp_path / "star_2.png") as image:
        assert image.text["seed"] == "42" and json.loads(image.text["settings"])["stages"] == first["stages"]


@pytest.mark.parametrize("suffix", [".jpg", ".webp"])
def test_lossy_formats_keep_prompt_seed_and_settings_in_exif(own_folder, tmp_path, suffix, capsys):
    out = tmp_path / f"star{suffix}"
    argv = [
        "generate",
        "a red star",
        "--model",
        str(own_folder),
        "--size",
        "16",
        "--steps",
        "2",
        "--seed",
        "9",
    ]
    assert main([*argv, "--no-progress", "--out", str(out)]) == 0
    with PIL.Image.open(out) as image:
        assert image.format == {".jpg": "JPEG", ".webp": "WEBP"}[suffix]
        text = read_text(image)
    assert text["prompt"] == "a red star" and text["seed"] == "9"
    assert json.loads(text["settings"])["stages"][0]["steps"] == 2


def picture(size: int) -> PIL.Image.Image:
    """Smooth colour gradients: an image the mark survives JPEG at the default quality on."""
    return PIL.Image.linear_gradient("L").resize((size, size)).convert("RGB")


def test_a_lossy_file_says_watermarked_only_when_its_bytes_carry_the_mark(monkeypatch):
    from cascade import generate_cli, images
    from cascade.request import GenerationRequest, GenerationResult

    marked = watermark.embed(picture(256))
    assert marked.info["watermark"].startswith("dwtDct:")
    result = GenerationResult(
        GenerationRequest(prompt="p", seed=1, size=256), marked, False, safety.check("p")
    )
    data, label = generate_cli._encoded(result, generate_cli.Path("x.jpg"), {})
    assert label == marked.info["watermark"]
    monkeypatch.setattr(images, "LOSSY_QUALITY", 5)  # compression that destroys the mark
    data, label = generate_cli._encoded(result, generate_cli.Path("x.jpg"), {})
    assert label.startswith("none: the dwtDct mark did not read back")
    with PIL.Image.open(__import__("io").BytesIO(data)) as lossy:
        assert read_text(lossy)["watermark"] == label and not watermark.detect(lossy)
