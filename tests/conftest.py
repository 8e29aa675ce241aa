"""Shared fixtures: tiny checkpoints in the real on-disk formats, built once per test session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from cascade import Cascade
from cascade.engine import fix_forward_rows
from cascade.safeguards import Safeguards
from safety import PromptFilter
from tests.tiny_models import IF_GEOMETRY, build_if_checkpoint, build_own_cascade, build_upscaler_checkpoint


@pytest.fixture(scope="session")
def if_folders(tmp_path_factory) -> dict[str, Path]:
    return build_if_checkpoint(tmp_path_factory.mktemp("if"))


@pytest.fixture(scope="session")
def if_geometry_folders(tmp_path_factory) -> dict[str, Path]:
    """IF stages I and II at IF's own sizes: 64 px, then 4x to 256 px."""
    return build_if_checkpoint(tmp_path_factory.mktemp("if-64-256"), **IF_GEOMETRY)


@pytest.fixture()
def if_cascade(if_geometry_folders) -> Cascade:
    """Stages I and II of `if_geometry_folders` as our cascade, unwatermarked as diffusers' references."""
    from tests.if_reference import without_watermark

    folders = if_geometry_folders
    return Cascade.from_pretrained(
        folders["stage_I"], stage_II=folders["stage_II"], device="cpu", safeguards=without_watermark()
    )


@pytest.fixture(scope="session")
def upscaler_folder(tmp_path_factory) -> Path:
    """IF's stage III, the SD x4 upscaler, at IF's sizes: 256 px in, 1024 px out."""
    return build_upscaler_checkpoint(tmp_path_factory.mktemp("x4") / "upscaler")


@pytest.fixture(scope="session")
def own_folder(tmp_path_factory) -> Path:
    return build_own_cascade(tmp_path_factory.mktemp("own") / "model")


# The tiny cascade as the engine serves it: U-Nets on fixed 2-row forwards (one request under guidance),
# so an image's bytes do not depend on what shares its batch and tests can compare PNGs exactly; its
# prompt filter is the lexical one, which needs no sentence encoder.
SERVED_FORWARD_ROWS = 2


@pytest.fixture(scope="session")
def served_cascade(own_folder, lexical) -> Cascade:
    cascade = Cascade.from_pretrained(
        own_folder, device="cpu", safeguards=Safeguards(prompt_filter=lexical.check)
    )
    fix_forward_rows(cascade.stages, SERVED_FORWARD_ROWS)
    return cascade


@pytest.fixture()
def out_of_memory_above(monkeypatch) -> Callable[..., None]:
    """`out_of_memory_above(stage, jobs)`: make `stage.step` raise CUDA's OOM on more than `jobs` jobs."""

    def patch(stage, jobs: int) -> None:
        real_step = stage.step

        def step(batch):
            if len(batch) > jobs:
                raise torch.OutOfMemoryError("simulated")
            return real_step(batch)

        monkeypatch.setattr(stage, "step", step)

    return patch


@pytest.fixture(scope="session")
def lexical() -> PromptFilter:
    """The prompt filter's normalisation and word lists only: no model."""
    return PromptFilter(semantic=False)


@pytest.fixture(scope="session")
def full() -> PromptFilter:
    """The default prompt filter with the semantic layer (multilingual-e5, loaded once per process)."""
    return PromptFilter()
