"""The prompt filter rendering asks before it renders: anything with `.check(prompt) -> SafetyVerdict`.

`cascade render` passes `Safeguards` (the same default filter the engine would run); the verdict
travels with each job, and the manifest records it per image and per rejected line.
"""

from __future__ import annotations

from typing import Protocol

from safety.verdict import SafetyVerdict


class PromptChecker(Protocol):
    def check(self, prompt: str) -> SafetyVerdict: ...
