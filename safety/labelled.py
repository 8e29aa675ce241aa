"""The labelled prompts that ship with the package (`safety/data/safety_prompts.jsonl`) and their splits:
dev (the classifiers and the Russian-in-Latin recogniser learn from it), calibration (the thresholds
come from it), test (nothing is tuned to it)."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["DATA_PATH", "FIT_SPLIT", "load_rows"]

DATA_PATH = Path(__file__).with_name("data") / "safety_prompts.jsonl"
FIT_SPLIT = "dev"  # the only split anything learns from; calibration sets thresholds, test neither


def load_rows(path: Path = DATA_PATH, split: str | None = "test") -> list[dict]:
    """The labelled prompts of one split ("dev", "calibration" or "test"; None or "all": every row)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if split in (None, "all") or r["split"] == split]
