"""`cascade watermark verify IMAGE...`, called through `safety.cli.run`."""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image

from safety import watermark
from safety.cli import add_arguments, run
from tests.safety.test_watermark import picture


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cascade watermark")
    add_arguments(parser)
    return parser.parse_args(argv)


def test_verify_passes_when_every_image_is_marked(tmp_path, capsys):
    paths = []
    for n, fmt in enumerate(["png", "jpg"]):
        path = tmp_path / f"marked{n}.{fmt}"
        watermark.embed(picture(256, seed=n)).save(path, quality=90)
        paths.append(str(path))
    assert run(parse("verify", *paths)) == 0
    out = capsys.readouterr().out
    assert out.count("ok ") == 2 and "MISSING" not in out


def test_verify_fails_when_any_image_lacks_the_mark(tmp_path, capsys):
    marked, unmarked, small = tmp_path / "marked.png", tmp_path / "plain.png", tmp_path / "small.png"
    watermark.embed(picture(256)).save(marked)
    picture(256, seed=3).save(unmarked)
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(small)
    missing = tmp_path / "missing.png"
    code = run(parse("verify", str(marked), str(unmarked), str(small), str(missing)))
    captured = capsys.readouterr()
    assert code == 1
    lines = captured.out.splitlines()
    assert lines[0].startswith("ok ") and all(line.startswith("MISSING") for line in lines[1:])
    assert "too small" in lines[2] and "no such file" in lines[3]
    assert "3 of 4 images lack the watermark" in captured.err


def test_verify_needs_an_image():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    try:
        parser.parse_args(["verify"])
    except SystemExit as exit_:
        assert exit_.code == 2
    else:
        raise AssertionError("verify without IMAGE was accepted")
