"""`cascade train` trains on the procedural world and `cascade export` turns runs into a model folder."""

from __future__ import annotations

import json

import pytest

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
        "a red star", seed=1, steps=8, progress=False
    )[0]
    assert image.size == (64, 64)


def test_train_cli_new_recipe_trains_its_stages_in_one_run_then_export_loads(tmp_path, capsys):
    run = tmp_path / "run"
    tiny = ["--stages", "base", "--steps", "1", "--batch-sizes", "base=2"]
    assert main(["train", "--recipe", "new", "--out", str(run), *tiny]) == 0
    assert "base: step 1 loss" in capsys.readouterr().out
    assert json.loads((run / "recipe.json").read_text())["stages"][0]["batch_size"] == 2
    assert main(["export", str(run), "--out", str(tmp_path / "model")]) == 0
    pipe = Cascade.from_pretrained(tmp_path / "model")
    base = pipe.stages[0]
    assert (base.spec.solver, base.prediction_type) == ("dpm++2m", "v_prediction")
    assert pipe.generate("a red star", seed=1, steps=2, progress=False)[0].size == (64, 64)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "one --stage"),
        (["--recipe", "new"], "--max-minutes"),
        (["--recipe", "new", "--stage", "base", "--steps", "1"], "--stages"),
        (["--recipe", "new", "--steps", "1", "--batch-sizes", "base:2"], "STAGE=N"),
    ],
)
def test_train_cli_refuses_settings_its_recipe_cannot_use(arguments, message, tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "run"), *arguments]) == 2
    assert message in capsys.readouterr().err
