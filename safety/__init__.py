"""Safety for the text-to-image service: a prompt filter and an invisible image watermark.

    >>> import safety
    >>> verdict = safety.check("a red star above a blue ring")
    >>> verdict.allowed
    True

`check` uses a default `PromptFilter` (default policy, semantic layer on), built on first use.
Layers: `normalize` (evasions undone), `lexicon` (word lists + allow-list), `semantic`
(multilingual-e5 + a classifier per category; `russian_latin` reads transliterated Russian back in
Cyrillic), composed by `filter` under a `policy` (TOML). `audit` counts and logs verdicts.
On the way out: `output_checker` (DeepFloyd IF's safety checker, where a checkpoint ships one) and
`watermark` (marks and verifies images; `cli` is `cascade watermark verify`). See docs/SAFETY.md.
"""

from __future__ import annotations

from typing import Any

from safety.audit import VerdictCounter, log_verdict
from safety.filter import PromptFilter, check, default_filter
from safety.policy import CategoryPolicy, Policy, PolicyError, default_policy, load_policy
from safety.verdict import CATEGORIES, PromptRejected, SafetyVerdict

__all__ = [
    "CATEGORIES",
    "CategoryPolicy",
    "Policy",
    "PolicyError",
    "PromptFilter",
    "PromptRejected",
    "SafetyVerdict",
    "VerdictCounter",
    "check",
    "default_filter",
    "default_policy",
    "load_policy",
    "log_verdict",
    "output_checker",
    "watermark",
]

_LAZY = ("watermark", "output_checker")


def __getattr__(name: str) -> Any:
    # The watermark needs OpenCV and PyWavelets, the output checker torch and diffusers: imported on use.
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"safety.{name}")
    raise AttributeError(f"module 'safety' has no attribute {name!r}")
