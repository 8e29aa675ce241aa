"""Fixtures: live servers started per test, serving the tiny `served_cascade` (tests/conftest.py)."""

from __future__ import annotations

import shutil
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


@pytest.fixture()
def browser():
    """Headless Chromium for the web page tests, 1280x900."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"  # Debian's; test_web_page.py skips without it
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--hide-scrollbars",
    ):
        options.add_argument(flag)
    options.add_argument("--window-size=1280,900")
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    yield driver
    driver.quit()
