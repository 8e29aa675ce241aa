"""Fixtures: the tiny cascade as the server runs it, and live servers started per test.

The shared cascade runs its U-Nets on fixed 2-row forwards (one request under guidance), so an image's
bytes do not depend on what shares its batch and tests can compare PNGs exactly; its prompt filter is
the lexical one, which needs no sentence encoder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch
from live_server import LiveServer

from cascade import Cascade
from cascade.render.invariance import fix_forward_rows
from cascade.safeguards import Safeguards
from safety import PromptFilter
from server.app import create_app
from server.config import ServerConfig

FORWARD_ROWS = 2


@pytest.fixture(scope="session")
def lexical_filter() -> Callable:
    return PromptFilter(semantic=False).check


@pytest.fixture(scope="session")
def served_cascade(own_folder, lexical_filter) -> Cascade:
    cascade = Cascade.from_pretrained(
        own_folder, device="cpu", safeguards=Safeguards(prompt_filter=lexical_filter)
    )
    return fix_forward_rows(cascade, FORWARD_ROWS)


@pytest.fixture()
def serve(served_cascade) -> Iterator[Callable[..., LiveServer]]:
    """Start a server for this test: `serve(config=..., model=...)`; stopped (drained) afterwards."""
    servers: list[LiveServer] = []

    def start(config: ServerConfig | None = None, model=None, *, wait_ready: bool = True) -> LiveServer:
        server = LiveServer(create_app(served_cascade if model is None else model, config))
        servers.append(server.start(wait_ready=wait_ready))
        return server

    yield start
    for server in servers:
        server.stop()


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
