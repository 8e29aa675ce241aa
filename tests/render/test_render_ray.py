"""`cascade render --ray` on a local two-worker Ray instance writes the same bytes as the local path."""

from __future__ import annotations

import hashlib

import pytest
import torch

from cascade.render import read_records
from cascade.render.__main__ import main
from tests.render.render_helpers import PROMPTS, pngs, write_lines

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'imagen-cascade[ray]')")


@pytest.fixture()
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_workers_write_byte_identical_images_and_resume_like_the_local_path(
    tmp_path, own_folder, local_ray
):
    lines = [{"prompt": p, "size": 32 if i % 2 else 16, "n": 2} for i, p in enumerate(PROMPTS[:4])]
    prompts = write_lines(tmp_path / "p.jsonl", lines)
    common = [str(prompts), "--model", str(own_folder), "--steps", "2", "--no-progress"]
    threads = torch.get_num_threads()
    try:  # Ray gives each worker one CPU and so one torch thread; the local run matches it
        assert main([*common, "--out", str(tmp_path / "local"), "--threads", "1", "--batch-size", "4"]) == 0
    finally:
        torch.set_num_threads(threads)

    out = tmp_path / "ray"
    args = [*common, "--out", str(out), "--batch-size", "2", "--ray", "--workers", "2"]
    assert main(args) == 0
    assert pngs(out) == pngs(tmp_path / "local") and len(pngs(out)) == 8
    records = [r for r in read_records(out) if r["type"] == "image"]
    assert sorted(r["file"] for r in records) == sorted(pngs(out))
    assert all(hashlib.sha256((out / r["file"]).read_bytes()).hexdigest() == r["sha256"] for r in records)
    assert len({r["worker"] for r in records}) == 2  # both replicas rendered

    (out / "3_1.png").unlink()
    assert main(args) == 0
    assert pngs(out) == pngs(tmp_path / "local")
    assert len([r for r in read_records(out) if r["type"] == "image"]) == 9  # only the missing one again
