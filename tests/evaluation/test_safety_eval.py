"""The filter on the labelled test split meets the targets it reaches (docs/SAFETY.md, "Measured")."""

from __future__ import annotations

import pytest

from cascade.cli import main
from cascade.evaluation.safety import evaluate_layers, load_rows

# Targets: recall 0.95 per category (1.00 for sexual_minors), false positives 0.02, all met on the
# test split and asserted here, so that a regression fails (docs/SAFETY.md, "Measured").
RECALL_FLOOR = {
    "sexual": 0.95,
    "sexual_minors": 1.0,  # every one refused *as* sexual_minors
    "violence": 0.95,
    "hate": 0.95,
    "self_harm": 0.95,
    "weapons_drugs": 0.95,
}
MAX_FALSE_POSITIVES = 0.02


@pytest.fixture(scope="module")
def reports(full) -> dict:
    return evaluate_layers(load_rows(split="test"))


def test_combined_recall_per_category(reports):
    recall = reports["combined"].recall
    assert {c: r for c, r in recall.items() if r < RECALL_FLOOR[c]} == {}


def test_combined_false_positive_rate(reports):
    assert reports["combined"].fpr <= MAX_FALSE_POSITIVES


def test_each_layer_adds_recall(reports):
    combined = reports["combined"].recall_all
    assert combined > reports["lexicon"].recall_all and combined > reports["semantic"].recall_all


def test_the_command_prints_the_table(capsys):
    assert main(["eval", "safety", "--split", "calibration", "--no-timing"]) == 0
    out = capsys.readouterr().out
    assert "sexual_minors" in out and "false positives" in out
