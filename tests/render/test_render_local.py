"""Rendering a prompt file through the engine: formats, bad lines, the filter, determinism, resume."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import PIL.Image

from cascade.render import read_records
from cascade.render.__main__ import main
from safety.verdict import SafetyVerdict
from tests.render.render_helpers import MARKER, PROMPTS, MarkerFilter, pngs, write_lines

FAST = {"size": 16, "steps": 2}


def images(records):
    return {r["file"]: r for r in records if r["type"] == "image"}


def test_txt_jsonl_and_csv_of_the_same_prompts_give_the_same_files(tmp_path, render):
    write_lines(tmp_path / "p.txt", PROMPTS[:3])
    write_lines(tmp_path / "p.jsonl", [{"prompt": p} for p in PROMPTS[:3]])
    (tmp_path / "p.csv").write_text("prompt\n" + "".join(f'"{p}"\n' for p in PROMPTS[:3]))
    outs = {}
    for suffix in ("txt", "jsonl", "csv"):
        summary = render(tmp_path / f"p.{suffix}", tmp_path / suffix, n=2, **FAST)
        assert (summary.rendered, summary.exit_code) == (6, 0)
        outs[suffix] = pngs(tmp_path / suffix)
    # CSV lines are one further down (the header), so their default ids, names and seeds differ
    assert sorted(outs["txt"]) == ["1_0.png", "1_1.png", "2_0.png", "2_1.png", "3_0.png", "3_1.png"]
    assert outs["jsonl"] == outs["txt"]
    assert sorted(outs["csv"]) == ["2_0.png", "2_1.png", "3_0.png", "3_1.png", "4_0.png", "4_1.png"]
    record = images(read_records(tmp_path / "txt"))["2_1.png"]
    assert record["prompt"] == PROMPTS[1] and record["index"] == 1 and record["line"] == 2
    assert record["sha256"] == hashlib.sha256(outs["txt"]["2_1.png"]).hexdigest()
    assert {"seed", "size", "steps", "guidance", "negative_prompt", "stages", "fingerprint", "safety"} <= set(
        record
    )


def test_per_line_settings_reach_the_image(tmp_path, render):
    lines = [
        {"prompt": PROMPTS[0], "id": "big", "size": 32, "steps": [2, 1]},
        {"prompt": PROMPTS[1], "id": "seeded", "seed": 11, "n": 2, "negative_prompt": "red"},
    ]
    render(write_lines(tmp_path / "p.jsonl", lines), tmp_path / "out", **FAST)
    with PIL.Image.open(tmp_path / "out" / "big_0.png") as image:
        assert image.size == (32, 32)
        assert image.info["seed"] == images(read_records(tmp_path / "out"))["big_0.png"]["seed"].__str__()
    records = images(read_records(tmp_path / "out"))
    assert [records[f"seeded_{i}.png"]["seed"] for i in range(2)] == [11, 12]
    assert records["seeded_0.png"]["negative_prompt"] == "red"
    assert [s["steps"] for s in records["big_0.png"]["stages"]] == [2, 1]


def test_malformed_lines_are_reported_with_line_numbers_and_the_run_goes_on(tmp_path, own_folder, capsys):
    prompts = write_lines(
        tmp_path / "p.jsonl",
        [{"prompt": PROMPTS[0]}, "{oops", {"prompt": PROMPTS[1], "steps": 0}, {"prompt": PROMPTS[2]}],
    )
    code = main([str(prompts), "--out", str(tmp_path / "out"), "--model", str(own_folder), "--size", "16",
                 "--steps", "2", "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err
    assert f"{prompts}:2: skipped: not valid JSON" in err
    assert f"{prompts}:3: skipped: steps: must be an integer from 1" in err
    assert code == 1  # finished, with problems to look at
    assert sorted(pngs(tmp_path / "out")) == ["1_0.png", "4_0.png"]


def test_rejected_prompts_are_recorded_with_their_category_and_produce_no_image(tmp_path, render):
    lines = [
        {"prompt": PROMPTS[0]},
        {"prompt": f"a {MARKER} star", "n": 2},
        {"prompt": PROMPTS[1], "negative_prompt": f"{MARKER} things"},
    ]
    prompts = write_lines(tmp_path / "p.jsonl", lines)
    checker = MarkerFilter()
    summary = render(prompts, tmp_path / "out", checker=checker, **FAST)
    assert (summary.rendered, summary.rejected, summary.exit_code) == (2, 1, 0)
    assert sorted(pngs(tmp_path / "out")) == ["1_0.png", "3_0.png"]
    assert f"{MARKER} things" not in checker.checked  # negative prompts are not filtered
    records = read_records(tmp_path / "out")
    (rejected,) = [r for r in records if r["type"] == "rejected"]
    assert (rejected["line"], rejected["category"], rejected["images"]) == (2, "custom", 2)
    assert images(records)["3_0.png"]["safety"] == SafetyVerdict(True).to_dict()

    summary = render(prompts, tmp_path / "out", checker=MarkerFilter(), **FAST)
    assert (summary.skipped, summary.rejected, summary.rendered) == (2, 1, 0)
    assert len([r for r in read_records(tmp_path / "out") if r["type"] == "rejected"]) == 1


def test_each_line_is_screened_once_however_many_images_it_has(tmp_path, render, render_cascade, monkeypatch):
    def screen(prompt):
        raise AssertionError("the engine screened a job whose line was screened already")

    monkeypatch.setattr(render_cascade.safeguards, "screen", screen)
    checker = MarkerFilter()
    prompts = write_lines(tmp_path / "p.jsonl", [{"prompt": PROMPTS[0], "n": 3}, {"prompt": PROMPTS[1]}])
    summary = render(prompts, tmp_path / "out", checker=checker, **FAST)
    assert summary.rendered == 4
    assert checker.checked == [PROMPTS[0], PROMPTS[1]]


def test_batch_size_1_and_4_give_identical_pngs(tmp_path, render):
    prompts = write_lines(tmp_path / "p.txt", PROMPTS)
    render(prompts, tmp_path / "one", batch_size=1, size=64, steps=2)
    render(prompts, tmp_path / "four", batch_size=4, size=64, steps=2)
    one, four = pngs(tmp_path / "one"), pngs(tmp_path / "four")
    assert len(one) == len(PROMPTS) and one == four
    pixels = [np.asarray(PIL.Image.open(tmp_path / "one" / name)) for name in sorted(one)]
    assert len({p.tobytes() for p in pixels}) == len(PROMPTS)  # and they are different images


def test_rerun_skips_verified_images_and_renders_missing_or_corrupted_ones(tmp_path, render):
    prompts = write_lines(tmp_path / "p.txt", PROMPTS[:4])
    out = tmp_path / "out"
    render(prompts, out, **FAST)
    first = pngs(out)
    (out / "2_0.png").unlink()
    (out / "3_0.png").write_bytes(first["3_0.png"][:50])  # truncated by something else
    summary = render(prompts, out, **FAST)
    assert (summary.rendered, summary.skipped) == (2, 2)
    assert pngs(out) == first
    assert render(prompts, out, **FAST).skipped == 4


def test_changed_settings_for_an_existing_image_are_an_error_naming_the_line(tmp_path, own_folder, capsys):
    prompts = write_lines(tmp_path / "p.txt", PROMPTS[:2])
    args = [
        str(prompts),
        "--out",
        str(tmp_path / "out"),
        "--model",
        str(own_folder),
        "--size",
        "16",
        "--no-progress",
    ]
    assert main([*args, "--steps", "2"]) == 0
    before = pngs(tmp_path / "out")
    capsys.readouterr()

    assert main([*args, "--steps", "3"]) == 2
    err = capsys.readouterr().err
    assert "line 1 (id '1'): 1_0.png was rendered with a different steps" in err and "--overwrite" in err
    assert pngs(tmp_path / "out") == before

    write_lines(prompts, [PROMPTS[0], PROMPTS[3]])  # line 2 now says something else
    assert main([*args, "--steps", "2"]) == 2
    assert "line 2 (id '2'): 2_0.png was rendered with a different prompt" in capsys.readouterr().err

    assert main([*args, "--steps", "2", "--overwrite"]) == 0
    after = pngs(tmp_path / "out")
    assert after["1_0.png"] == before["1_0.png"] and after["2_0.png"] != before["2_0.png"]
    assert images(read_records(tmp_path / "out"))["2_0.png"]["prompt"] == PROMPTS[3]


def test_grid_writes_a_captioned_contact_sheet_per_n_images(tmp_path, render):
    prompts = write_lines(tmp_path / "p.txt", PROMPTS[:5])
    render(prompts, tmp_path / "out", grid=4, **FAST)
    sheets = sorted((tmp_path / "out" / "grids").iterdir())
    assert [p.name for p in sheets] == ["grid_0001.png", "grid_0002.png"]
    with PIL.Image.open(sheets[0]) as first, PIL.Image.open(sheets[1]) as second:
        tile, strip = 256, second.height - 256  # 16 px images, 16x; a caption strip under each
        assert second.width == tile and strip > 0
        assert first.size == (2 * tile + 2, 2 * (tile + strip) + 2)
        cell = np.asarray(first)[:tile, tile + 2 :]
        with PIL.Image.open(tmp_path / "out" / "2_0.png") as image:
            expected = np.asarray(image.convert("RGB")).repeat(16, axis=0).repeat(16, axis=1)
            seed = image.info["seed"]
        assert np.array_equal(cell, expected)  # scaled up pixel for pixel, nearest
        caption = np.asarray(first)[tile : tile + strip, tile + 2 :]
        assert len(np.unique(caption.reshape(-1, 3), axis=0)) > 2  # text drawn, not a blank strip
        captions = json.loads(first.info["captions"])
    assert [c["file"] for c in captions] == ["1_0.png", "2_0.png", "3_0.png", "4_0.png"]
    assert captions[1] == {"file": "2_0.png", "prompt": PROMPTS[1], "seed": seed}
