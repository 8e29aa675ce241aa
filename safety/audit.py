"""Counting and logging verdicts without keeping prompts.

`VerdictCounter` counts verdicts by (allowed, category), for a metrics endpoint; `log_verdict` writes
one log line per verdict, with the prompt text only when the operator allows it (`log_prompts`).
Neither ever records the matched words: they can be slurs, and they tell an attacker what to avoid.

    counter = VerdictCounter()
    verdict = safety.check(prompt)
    counter.record(verdict)
    log_verdict(verdict, prompt, log_prompts=False)
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

from safety.verdict import SafetyVerdict

__all__ = ["VerdictCounter", "log_verdict"]

logger = logging.getLogger("safety")

PROMPT_SHOWN = 80  # characters of the prompt a log line keeps when prompts may be logged


class VerdictCounter:
    """Thread-safe counts of verdicts by (allowed, category); category is None for a clean prompt."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[bool, str | None]] = Counter()
        self._lock = threading.Lock()

    def record(self, verdict: SafetyVerdict) -> None:
        with self._lock:
            self._counts[(verdict.allowed, verdict.category)] += 1

    def counts(self) -> dict[tuple[bool, str | None], int]:
        """A snapshot: {(allowed, category): count}."""
        with self._lock:
            return dict(self._counts)

    def rejected(self) -> dict[str, int]:
        """Refused prompts per category."""
        return {category or "unknown": n for (allowed, category), n in self.counts().items() if not allowed}


def log_verdict(
    verdict: SafetyVerdict, prompt: str, *, log_prompts: bool = True, log: logging.Logger = logger
) -> None:
    """One line per verdict: a refusal at INFO, an allowed prompt at DEBUG; the prompt text (its first
    `PROMPT_SHOWN` characters) only with `log_prompts`, its length otherwise."""
    shown = repr(prompt[:PROMPT_SHOWN]) if log_prompts else f"<{len(prompt)} characters, not logged>"
    if verdict.allowed:
        log.debug("prompt allowed: category=%s prompt=%s", verdict.category, shown)
    else:
        log.info("prompt rejected: category=%s layer=%s prompt=%s", verdict.category, verdict.layer, shown)
