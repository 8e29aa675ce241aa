"""Shared fixtures: tiny checkpoints in the real on-disk formats, built once per test session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tiny_models import build_if_checkpoint, build_own_cascade, build_upscaler_checkpoint


@pytest.fixture(scope="session")
def if_folders(tmp_path_factory) -> dict[str, Path]:
    return build_if_checkpoint(tmp_path_factory.mktemp("if"))


@pytest.fixture(scope="session")
def upscaler_folder(tmp_path_factory) -> Path:
    return build_upscaler_checkpoint(tmp_path_factory.mktemp("x4") / "upscaler")


@pytest.fixture(scope="session")
def own_folder(tmp_path_factory) -> Path:
    return build_own_cascade(tmp_path_factory.mktemp("own") / "model")
