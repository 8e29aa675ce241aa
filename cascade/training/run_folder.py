"""A training run's folder: its settings, an atomic checkpoint and a step log that a resume rewinds.

Shared by both recipes. A kill at any moment leaves the previous checkpoint intact (it is written to a
temporary file and renamed); log lines written after the checkpoint are dropped on resume, since the
resumed run writes those steps again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol, Self

import torch

CHECKPOINT = "checkpoint.pt"
LOG = "log.jsonl"


class RunSettings(Protocol):
    def save(self, path: Path) -> None: ...

    @classmethod
    def load(cls, path: Path) -> Self: ...


def keep_same_settings(settings: RunSettings, path: Path) -> None:
    """Write `settings` to `path`, or refuse if the folder holds a run with other settings."""
    if path.is_file() and type(settings).load(path) != settings:
        raise ValueError(
            f"{path.parent} holds a run with other settings ({path}); use a new folder to start over"
        )
    settings.save(path)


def save_checkpoint(run_dir: Path, state: dict[str, Any]) -> None:
    temporary = run_dir / (CHECKPOINT + ".tmp")
    torch.save(state, temporary)
    with temporary.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, run_dir / CHECKPOINT)


def load_checkpoint(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / CHECKPOINT
    return torch.load(path, map_location="cpu", weights_only=True) if path.is_file() else None


def append_log(run_dir: Path, entries: Iterable[dict[str, Any]]) -> None:
    with (run_dir / LOG).open("a") as log:
        log.writelines(json.dumps(entry) + "\n" for entry in entries)


def read_log(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / LOG
    lines = path.read_text().splitlines() if path.is_file() else []
    return [entry for entry in map(_parsed, lines) if entry is not None]


def truncate_log(run_dir: Path, checkpointed: Callable[[dict[str, Any]], bool]) -> None:
    """Keep the log lines `checkpointed` accepts (and drop lines torn by a kill)."""
    if (run_dir / LOG).is_file():
        kept = [entry for entry in read_log(run_dir) if checkpointed(entry)]
        (run_dir / LOG).write_text("".join(json.dumps(entry) + "\n" for entry in kept))


def _parsed(line: str) -> dict[str, Any] | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return None  # a line torn by a kill
    return entry if isinstance(entry, dict) and "step" in entry else None
