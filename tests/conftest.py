"""Shared fixtures: tiny checkpoints in the real on-disk formats, built once per test session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tiny_models import IF_GEOMETRY, build_if_checkpoint, build_own_cascade, build_upscaler_checkpoint


@pytest.fixture(scope="session")
def if_folders(tmp_path_factory) -> dict[str, Path]:
    return build_if_checkpoint(tmp_path_factory.mktemp("if"))


@pytest.fixture(scope="session")
def if_geometry_folders(tmp_path_factory) -> dict[str, Path]:
    """IF stages I and II at IF's own sizes: 64 px, then 4x to 256 px."""
    return build_if_checkpoint(tmp_path_factory.mktemp("if-64-256"), **IF_GEOMETRY)


@pytest.fixture(scope="session")
def upscaler_folder(tmp_path_factory) -> Path:
    """IF's stage III, the SD x4 upscaler, at IF's sizes: 256 px in, 1024 px out."""
    return build_upscaler_checkpoint(tmp_path_factory.mktemp("x4") / "upscaler")


@pytest.fixture(scope="session")
def own_folder(tmp_path_factory) -> Path:
    return build_own_cascade(tmp_path_factory.mktemp("own") / "model")
