"""The prompt filter rendering asks before it renders: anything with `.check(prompt) -> verdict`.

The verdict needs `.allowed`, `.category` and `.to_dict()` (the `safety` package's `SafetyVerdict`),
which the manifest records per image and per rejected line.
"""

from __future__ import annotations

from typing import Any, Protocol


class Verdict(Protocol):
    allowed: bool
    category: str | None

    def to_dict(self) -> dict[str, Any]: ...


class PromptChecker(Protocol):
    def check(self, prompt: str) -> Verdict: ...
