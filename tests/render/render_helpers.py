"""Helpers shared by the render tests: prompt files, a marker-word prompt filter, PNG listings."""

from __future__ import annotations

import json
from pathlib import Path

from safety.verdict import SafetyVerdict

MARKER = "forbidden"
PROMPTS = [
    "a red star",
    "two blue rings",
    "a green heart above a circle",
    "the small square",
    "a big yellow triangle",
    "a purple cross in the corner",
]


class MarkerFilter:
    """Rejects prompts containing the marker word as category "custom"; counts what it was asked.
    `identity` names it to the kept verdicts (None: its verdicts are not kept)."""

    def __init__(self, identity: str | None = "marker-1") -> None:
        self.checked: list[str] = []
        self.identity = identity

    def check(self, prompt: str) -> SafetyVerdict:
        self.checked.append(prompt)
        if MARKER in prompt:
            return SafetyVerdict(False, "custom", layer="policy", message="refused")
        return SafetyVerdict(True)


def write_lines(path: Path, lines: list) -> Path:
    """Write strings as they are, anything else as one JSON object a line."""
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def pngs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}
