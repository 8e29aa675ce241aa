"""Helpers shared by the render tests: prompt files, a marker-word prompt filter, PNG listings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

MARKER = "forbidden"
PROMPTS = [
    "a red star",
    "two blue rings",
    "a green heart above a circle",
    "the small square",
    "a big yellow triangle",
    "a purple cross in the corner",
]


@dataclass(frozen=True)
class FakeVerdict:
    allowed: bool
    category: str | None

    def to_dict(self) -> dict:
        return {"allowed": self.allowed, "category": self.category, "checked": True}


class MarkerFilter:
    """Rejects prompts containing the marker word as category "test"; counts what it was asked."""

    def __init__(self) -> None:
        self.checked: list[str] = []

    def check(self, prompt: str) -> FakeVerdict:
        self.checked.append(prompt)
        return FakeVerdict(False, "test") if MARKER in prompt else FakeVerdict(True, None)


def write_lines(path: Path, lines: list) -> Path:
    """Write strings as they are, anything else as one JSON object a line."""
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def pngs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}
