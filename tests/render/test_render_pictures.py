"""Prompt lines with input pictures: img2img (`image`, `strength`) and inpainting (`mask`), paths relative
to the prompt file, the pictures' sha256 in the manifest, and resume that notices a changed picture."""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest

from cascade.render import read_prompts, read_records
from cascade.render.plan import ImageJob, RenderSettings, plan_lines
from cascade.render.runner import ConflictError
from tests.render.render_helpers import pngs, write_lines

RED = (200, 30, 30)
FAST = {"size": 16, "steps": 3}


def images(records):
    return {r["file"]: r for r in records if r["type"] == "image"}


def inputs(folder):
    """A red 16 px picture and a mask of its right half, in `folder/in/`."""
    (folder / "in").mkdir()
    PIL.Image.new("RGB", (16, 16), RED).save(folder / "in" / "red.png")
    mask = PIL.Image.new("L", (16, 16), 0)
    mask.paste(255, (8, 0, 16, 16))
    mask.save(folder / "in" / "right.png")


def test_lines_with_pictures_render_img2img_and_inpainting_and_record_the_inputs(tmp_path, render):
    inputs(tmp_path)
    lines = [
        {"prompt": "a blue ring", "id": "edit", "image": "in/red.png", "strength": 0.5},
        {"prompt": "a blue ring", "id": "paint", "image": "in/red.png", "mask": "in/right.png"},
        {"prompt": "a blue ring", "id": "text"},
    ]
    summary = render(write_lines(tmp_path / "p.jsonl", lines), tmp_path / "out", **FAST)
    assert (summary.rendered, summary.exit_code) == (3, 0)
    with PIL.Image.open(tmp_path / "out" / "paint_0.png") as image:
        painted = np.asarray(image.convert("RGB"), dtype=int)
    assert np.abs(painted[:, :8] - np.array(RED)).max() <= 1  # kept outside the mask
    assert np.abs(painted[:, 8:] - np.array(RED)).mean() > 5  # repainted inside
    records = images(read_records(tmp_path / "out"))
    edit, paint, text = records["edit_0.png"], records["paint_0.png"], records["text_0.png"]
    assert edit["strength"] == 0.5 and edit["stages"][0]["strength"] == 0.5
    assert edit["image_sha256"] == paint["image_sha256"] and len(edit["image_sha256"]) == 64
    assert paint["image_file"] == str(tmp_path / "in" / "red.png") and "mask_sha256" in paint
    assert not {"strength", "image_sha256", "image_file"} & set(text)  # text lines: keys as before


def test_a_rerun_skips_finished_images_and_a_changed_picture_is_a_conflict(tmp_path, render):
    inputs(tmp_path)
    prompts = write_lines(tmp_path / "p.jsonl", [{"prompt": "a ring", "id": "e", "image": "in/red.png"}])
    render(prompts, tmp_path / "out", **FAST)
    before = pngs(tmp_path / "out")
    assert render(prompts, tmp_path / "out", **FAST).rendered == 0
    PIL.Image.new("RGB", (16, 16), (30, 200, 30)).save(tmp_path / "in" / "red.png")
    with pytest.raises(ConflictError, match="different image_sha256"):
        render(prompts, tmp_path / "out", **FAST)
    assert render(prompts, tmp_path / "out", overwrite=True, **FAST).rendered == 1
    assert pngs(tmp_path / "out") != before


def test_a_line_whose_picture_cannot_be_used_is_skipped_with_the_reason(tmp_path, render_cascade):
    inputs(tmp_path)
    (tmp_path / "in" / "junk.png").write_bytes(b"not an image")
    PIL.Image.new("L", (8, 8)).save(tmp_path / "in" / "small_mask.png")
    lines = [
        {"prompt": "a", "image": "in/missing.png"},
        {"prompt": "b", "image": "in/junk.png"},
        {"prompt": "c", "image": "in/red.png", "mask": "in/small_mask.png"},
        {"prompt": "d", "mask": "in/right.png"},
        {"prompt": "e", "image": "in/red.png", "strength": 1.5},
        {"prompt": "f", "image": 3},
        {"prompt": "g", "image": "in/red.png"},
    ]
    read, bad = read_prompts(write_lines(tmp_path / "p.jsonl", lines))
    assert [b.message for b in bad] == ["image: must be a file path, got 3"]
    plans, invalid = plan_lines(read, RenderSettings(**FAST), render_cascade.plan, "model")
    assert [plan.line.prompt for plan in plans] == ["g"]
    reasons = [b.message for b in invalid]
    assert reasons[0].startswith("image: cannot read") and "missing.png" in reasons[0]
    assert reasons[1].startswith("image: cannot read") and "as an image" in reasons[1]
    assert reasons[2] == "mask: must be the image's size, 16x16, got 8x8"
    assert reasons[3].startswith("mask: marks what to repaint in an image")
    assert reasons[4].startswith("strength:")


def test_a_job_row_reads_its_pictures_again_and_refuses_a_changed_file(tmp_path, render_cascade):
    """How a job travels to a Ray worker: as JSON, the pictures read there from the same paths."""
    inputs(tmp_path)
    line = {"prompt": "a ring", "image": "in/red.png", "mask": "in/right.png", "size": [32, 16]}
    read, _ = read_prompts(write_lines(tmp_path / "p.jsonl", [line]))
    (plan,), _ = plan_lines(read, RenderSettings(steps=2), render_cascade.plan, "model")
    job = plan.jobs[0]
    again = ImageJob.from_row(job.to_row())
    assert again == job and again.request.size == (32, 16)
    assert np.array_equal(np.asarray(again.request.mask), np.asarray(job.request.mask))
    PIL.Image.new("L", (16, 16), 255).save(tmp_path / "in" / "right.png")
    with pytest.raises(ValueError, match=r"right\.png changed since the run was planned"):
        ImageJob.from_row(job.to_row())
