"""The device script's CPU dry run: what the GPU call will do, end to end, so it cannot fail on a typo.

The packed output must unpack with the documented shell line into a folder that `Cascade.from_pretrained`
loads and generates from; once with a tiny recipe under a time budget (the path the lease takes), once
with the shipped stage sizes at one step of batch 1 (the real architectures, export and part sizes).
"""

from __future__ import annotations

import json

import pytest

from cascade import Cascade
from cascade.training import gpu_run
from tests.training.test_multi_stage import tiny_recipe


def test_budget_run_packs_a_model_that_loads_and_generates(tmp_path):
    config = tmp_path / "recipe.json"
    tiny_recipe(steps=None, budget_s=1.0).save(config)
    out, run = tmp_path / "out", tmp_path / "run"
    argv = [
        "--minutes",
        "0.1",
        "--out",
        str(out),
        "--run",
        str(run),
        "--config",
        str(config),
        "--no-progress",
    ]
    assert gpu_run.main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["budget_s"] == 6.0
    figures = summary["figures"]
    # It stops at the budget, or before it once every stage has the steps planned from its calibration.
    planned = all(stage["steps"] == stage["planned"] for stage in figures["stages"].values())
    assert figures["elapsed_s"] >= 6.0 or planned
    assert summary["figures"]["stages"]["base"]["steps"] >= 1
    assert len(list(out.iterdir())) <= 8 and sum(f.stat().st_size for f in out.iterdir()) <= 64 * 2**20
    assert '"stage": "base"' in (out / "log.jsonl").read_text()
    pipe = Cascade.from_pretrained(gpu_run.unpack(out, tmp_path / "models"), device="cpu")
    assert pipe.sizes == (16, 32, 64)
    image = pipe.generate("a red star", seed=0, size=64, steps=2, progress=False)[0]
    assert image.size == (64, 64)


def test_shipped_sizes_export_within_the_file_limits(tmp_path):
    out, run = tmp_path / "out", tmp_path / "run"
    argv = ["--minutes", "1", "--out", str(out), "--run", str(run), "--steps", "1", "--batch-size", "1"]
    assert gpu_run.main([*argv, "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert all(stage["steps"] == 1 for stage in summary["figures"]["stages"].values())
    assert 0 < max(summary["weights_mib"].values()) <= 16
    assert len(list(out.iterdir())) <= 8 and sum(f.stat().st_size for f in out.iterdir()) <= 64 * 2**20
    pipe = Cascade.from_pretrained(gpu_run.unpack(out, tmp_path / "models"), device="cpu")
    assert pipe.sizes == (64, 256, 1024)
    assert [stage.spec.space_to_depth for stage in pipe.stages] == [1, 2, 4]
    assert pipe.generate("a red star", seed=0, size=64, progress=False)[0].size == (64, 64)


def test_a_model_too_big_for_out_is_refused_before_it_is_split(tmp_path, monkeypatch):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"\0" * 4096)
    monkeypatch.setattr(gpu_run, "MAX_PACKED_BYTES", 1024)
    with pytest.raises(RuntimeError, match="63 MiB"):
        gpu_run.pack(folder, tmp_path)
