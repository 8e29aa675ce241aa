"""`cascade train` trains on the procedural world and `cascade export` turns runs into a model folder."""

from __future__ import annotations

import json

from cascade import Cascade
from cascade.cli import main


def test_train_cli_on_the_world_then_export_loads(tmp_path, capsys):
    run = tmp_path / "base"
    tiny = ["--steps", "2", "--batch-size", "2", "--width", "8", "--levels", "2", "--checkpoint-every", "1"]
    assert main(["train", "--stage", "base", "--out", str(run), *tiny]) == 0
    assert "base: step 2" in capsys.readouterr().out
    logged = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in logged][-1] == 2
    assert main(["export", str(run), "--out", str(tmp_path / "model")]) == 0
    image = Cascade.from_pretrained(tmp_path / "model").generate(
        "a red star", seed=1, steps=2, progress=False
    )[0]
    assert image.size == (64, 64)
