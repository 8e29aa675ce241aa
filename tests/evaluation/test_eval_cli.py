"""`cascade eval adherence` renders the fixed suite at each size and writes per-size figures."""

from __future__ import annotations

import json

from cascade.cli import main
from cascade.evaluation.adherence import SCORED


def test_eval_adherence_reports_accuracy_and_detail_per_size(own_folder, tmp_path, capsys):
    out = tmp_path / "eval"
    code = main(
        ["eval", "adherence", "--model", str(own_folder), "--n", "3", "--sizes", "16,64", "--out", str(out)]
    )
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert set(report) == {"16", "64"}
    for figures in report.values():
        assert "overall" in figures["accuracy"]
        assert set(figures["accuracy"]) <= {*SCORED, "overall"}
        assert all(0.0 <= value <= 1.0 for value in figures["accuracy"].values())
        assert set(figures["detail"]) == {"above_64", "above_256", "gradient_energy"}
    assert sorted(p.name for p in (out / "64px").iterdir()) == ["0000.png", "0001.png", "0002.png"]
    assert "overall" in capsys.readouterr().out


def test_eval_adherence_refuses_a_size_the_model_lacks(own_folder, capsys):
    assert main(["eval", "adherence", "--model", str(own_folder), "--n", "2", "--sizes", "256"]) == 2
    assert "sizes: 256 is not one of this model's sizes" in capsys.readouterr().err
