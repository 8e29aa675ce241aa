"""The test suite's tiny models for the benchmarks: `tests/tiny_models.py`, loaded by its path."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

TINY_MODELS = Path(__file__).resolve().parents[1] / "tests" / "tiny_models.py"


def tiny_models() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tiny_models", TINY_MODELS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
