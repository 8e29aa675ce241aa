"""Durable files: atomic PNG writes, an append-only manifest that survives a torn last line, one writer."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from cascade.engine import FixedRowsUNet
from cascade.render import Manifest, read_records
from cascade.render.manifest import ManifestBusyError, is_verified
from cascade.render.writer import remove_temp_files, write_atomic


def test_atomic_write_replaces_the_whole_file_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "a_0.png"
    write_atomic(target, b"old")
    write_atomic(target, b"new bytes")
    assert target.read_bytes() == b"new bytes"
    assert [p.name for p in tmp_path.iterdir()] == ["a_0.png"]


def test_leftover_temporary_files_are_removed_and_nothing_else(tmp_path):
    (tmp_path / ".a_0.png.tmp-123").write_bytes(b"partial")
    (tmp_path / "a_0.png").write_bytes(b"image")
    (tmp_path / "notes.tmp-1").write_bytes(b"not ours")
    assert [p.name for p in remove_temp_files(tmp_path)] == [".a_0.png.tmp-123"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_0.png", "notes.tmp-1"]


def test_a_torn_last_record_is_dropped_so_the_next_record_starts_on_its_own_line(tmp_path):
    good = {"type": "image", "file": "a_0.png", "sha256": "x"}
    (tmp_path / "manifest.jsonl").write_text(json.dumps(good) + "\n" + '{"type": "image", "fi')
    assert read_records(tmp_path) == [good]
    with Manifest.open(tmp_path) as manifest:
        assert manifest.records == [good] and manifest.damaged == []
        manifest.append({"type": "image", "file": "b_0.png", "sha256": "y"})
    assert [r["file"] for r in read_records(tmp_path)] == ["a_0.png", "b_0.png"]


def test_damaged_records_inside_the_manifest_are_reported_not_fatal(tmp_path):
    (tmp_path / "manifest.jsonl").write_text('{"type": "run"}\nnot json\n{"type": "run"}\n')
    with Manifest.open(tmp_path) as manifest:
        assert len(manifest.records) == 2 and manifest.damaged == [2]


def test_the_latest_image_record_counts_and_verifies_only_by_hash(tmp_path):
    (tmp_path / "a_0.png").write_bytes(b"pixels")
    digest = hashlib.sha256(b"pixels").hexdigest()
    with Manifest.open(tmp_path) as manifest:
        manifest.append({"type": "image", "file": "a_0.png", "sha256": "stale"})
        manifest.append({"type": "image", "file": "a_0.png", "sha256": digest})
        record = manifest.latest_images()["a_0.png"]
    assert is_verified(tmp_path, record)
    (tmp_path / "a_0.png").write_bytes(b"pixel")
    assert not is_verified(tmp_path, record)
    (tmp_path / "a_0.png").unlink()
    assert not is_verified(tmp_path, record)


def test_a_second_writer_on_the_same_folder_is_refused(tmp_path):
    with Manifest.open(tmp_path), pytest.raises(ManifestBusyError):
        Manifest.open(tmp_path)
    Manifest.open(tmp_path).close()  # released with the first


def test_fixed_rows_forward_gives_a_row_the_same_bits_whatever_shares_its_batch(render_cascade):
    stage = render_cascade.stages[-1]
    assert isinstance(stage.unet, FixedRowsUNet)
    generator = torch.Generator().manual_seed(0)
    size, channels = stage.spec.resolution, stage.unet.config.in_channels

    def forward(rows: int, position: int) -> torch.Tensor:
        x = torch.randn(rows, channels, size, size, generator=generator)
        text = torch.randn(rows, 16, render_cascade.encoder.width, generator=generator)
        x[position], text[position] = target, target_text
        t = torch.full((rows,), 500)
        t[position] = 300
        with torch.no_grad():
            out = stage.unet(
                x, t, encoder_hidden_states=text, class_labels=torch.full((rows,), 100), return_dict=False
            )[0]
        return out[position]

    target = torch.randn(channels, size, size, generator=generator)
    target_text = torch.randn(16, render_cascade.encoder.width, generator=generator)
    alone = forward(1, 0)
    assert all(torch.equal(alone, forward(rows, rows - 1)) for rows in (2, 5, 19))
