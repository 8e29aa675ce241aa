"""`cascade generate` writes a PNG of the requested size and fails clearly on bad input."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import PIL.Image
import pytest

from cascade.cli import main


def test_generate_writes_png_of_requested_size(own_folder, tmp_path, capsys):
    out = tmp_path / "out" / "star.png"
    code = main(
        [
            "generate",
            "a red star above a blue ring",
            "--model",
            str(own_folder),
            "--size",
            "32",
            "--seed",
            "3",
            "--steps",
            "3,2",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    with PIL.Image.open(out) as image:
        assert image.size == (32, 32) and image.mode == "RGB"
        assert image.text["seed"] == "3" and image.text["prompt"] == "a red star above a blue ring"
    assert "wrote" in capsys.readouterr().out


def test_generate_reports_bad_size_with_allowed_values(own_folder, tmp_path, capsys):
    code = main(
        [
            "generate",
            "a red star",
            "--model",
            str(own_folder),
            "--size",
            "48",
            "--out",
            str(tmp_path / "x.png"),
        ]
    )
    assert code == 2
    assert "size: must be one of ['16x16', '32x32', '64x64']" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_generate_without_any_model_says_how_to_give_one(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CASCADE_MODEL", str(tmp_path / "missing"))
    assert main(["generate", "a red star", "--out", str(tmp_path / "x.png")]) == 2
    assert "CASCADE_MODEL" in capsys.readouterr().err


def missing(*names):
    """`importlib.util.find_spec` as it answers where the packages `names` are not installed."""
    real = importlib.util.find_spec
    return lambda name, *args: None if name in names else real(name, *args)


def test_serve_without_the_server_extra_exits_2_naming_the_install_command(monkeypatch, capsys):
    monkeypatch.setattr(importlib.util, "find_spec", missing("fastapi"))
    assert main(["serve"]) == 2
    assert "pip install 'imagen-cascade[server]'" in capsys.readouterr().err


def test_render_on_ray_without_the_ray_extra_exits_2_naming_the_install_command(
    own_folder, tmp_path, monkeypatch, capsys
):
    prompts = tmp_path / "p.txt"
    prompts.write_text("a red star\n")
    monkeypatch.setattr(importlib.util, "find_spec", missing("ray"))
    assert (
        main(["render", str(prompts), "--out", str(tmp_path / "out"), "--model", str(own_folder), "--ray"])
        == 2
    )
    assert "pip install 'imagen-cascade[ray]'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_generate_refuses_an_output_format_it_cannot_write(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        main(["generate", "a red star", "--out", str(tmp_path / "star.gif")])
    assert exit.value.code == 2
    assert "--out: must end in one of .jpeg, .jpg, .png, .webp" in capsys.readouterr().err


def test_generate_img2img_from_a_file_and_refuses_an_unreadable_one(own_folder, tmp_path, capsys):
    picture, out = tmp_path / "in.png", tmp_path / "out.png"
    PIL.Image.new("RGB", (40, 40), (200, 30, 30)).save(picture)
    common = ["generate", "a red star", "--model", str(own_folder), "--size", "16", "--steps", "4"]
    assert main([*common, "--image", str(picture), "--strength", "0.5", "--out", str(out), "--json"]) == 0
    stage = json.loads(capsys.readouterr().out)["stages"][0]
    assert stage["strength"] == 0.5
    (tmp_path / "broken.png").write_bytes(b"not an image")
    assert main([*common, "--image", str(tmp_path / "broken.png"), "--out", str(tmp_path / "x.png")]) == 2
    assert "image: cannot read" in capsys.readouterr().err
    assert main([*common, "--strength", "0.5", "--out", str(tmp_path / "x.png")]) == 2
    assert "strength: applies to an input image" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_generate_inpaints_with_a_mask_file_and_keeps_the_unmasked_pixels(own_folder, tmp_path, capsys):
    picture, mask, out = tmp_path / "in.png", tmp_path / "mask.png", tmp_path / "out.png"
    PIL.Image.new("RGB", (16, 16), (200, 30, 30)).save(picture)
    white_right = PIL.Image.new("L", (16, 16), 0)
    white_right.paste(255, (8, 0, 16, 16))
    white_right.save(mask)
    common = ["generate", "a red star", "--model", str(own_folder), "--size", "16", "--steps", "4"]
    assert main([*common, "--image", str(picture), "--mask", str(mask), "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stages"][0]["strength"] == 1.0
    with PIL.Image.open(out) as image:
        kept = np.asarray(image.convert("RGB"), dtype=int)[:, :8]
    assert np.abs(kept - np.array([200, 30, 30])).max() <= 1
    assert main([*common, "--mask", str(mask), "--out", str(tmp_path / "x.png")]) == 2
    assert "mask: marks what to repaint in an image" in capsys.readouterr().err


def test_generate_takes_a_width_x_height_size(own_folder, tmp_path, capsys):
    out = tmp_path / "wide.png"
    command = ["generate", "a wide field", "--model", str(own_folder), "--steps", "2", "--out", str(out)]
    assert main([*command, "--size", "48x32", "--json"]) == 0
    with PIL.Image.open(out) as image:
        assert image.size == (48, 32)
    assert [stage["width"] for stage in json.loads(capsys.readouterr().out)["stages"]] == [24, 48]
    with pytest.raises(SystemExit) as exit:
        main([*command, "--size", "48by32"])
    assert exit.value.code == 2 and "N or WxH" in capsys.readouterr().err
