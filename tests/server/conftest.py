"""Fixtures: live servers started per test, serving the tiny `served_cascade` (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from server.app import create_app
from server.config import ServerConfig
from tests.server.live_server import LiveServer


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
