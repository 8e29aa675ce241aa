"""Filters shared by the safety tests: the sentence encoder loads once per session (a few seconds)."""

from __future__ import annotations

import pytest

from safety import PromptFilter


@pytest.fixture(scope="session")
def lexical() -> PromptFilter:
    """Normalisation and word lists only: no model."""
    return PromptFilter(semantic=False)


@pytest.fixture(scope="session")
def full() -> PromptFilter:
    """The default filter with the semantic layer (MiniLM, loaded once)."""
    return PromptFilter()
