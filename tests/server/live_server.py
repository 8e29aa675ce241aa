"""A live uvicorn on loopback, and helpers to talk to it: the tests' side of the wire.

Servers run in-process on a thread (the SIGTERM test starts its own subprocess). Readiness is polled,
never slept for.
"""

from __future__ import annotations

import base64
import io
import socket
import threading
import time
from collections.abc import Callable

import httpx
import openai
import PIL.Image

from server.http_server import build_server

STARTUP_S = 60.0


def wait_until(condition: Callable[[], bool], timeout: float = STARTUP_S, what: str = "condition") -> None:
    """Poll `condition` until it holds; fail the test if it does not within `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


class LiveServer:
    """uvicorn serving `app` on a free loopback port, on a thread of this process."""

    def __init__(self, app) -> None:
        self.app = app
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = build_server(app, log_level="warning")
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def service(self):
        return self.app.state.service

    def start(self, *, wait_ready: bool = True) -> LiveServer:
        self.thread.start()
        wait_until(lambda: self.server.started, what="uvicorn to start")
        if wait_ready:
            wait_until(lambda: ready(self.url), what="/readyz")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(STARTUP_S)

    def client(self, api_key: str = "unused", **options) -> openai.OpenAI:
        """The official SDK pointed at us; no retries, so each error surfaces as it is."""
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=api_key, max_retries=0, **options)

    def metric(self, name: str, **labels: str) -> float | None:
        return metric(self.url, name, **labels)


def metric(url: str, name: str, **labels: str) -> float | None:
    """One sample from a server's /metrics, or None when it is not exposed."""
    selector = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    wanted = f"{name}{{{selector}}}" if labels else name
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith("#"):
            continue
        sample, _, value = line.rpartition(" ")
        if _same_sample(sample, wanted):
            return float(value)
    return None


def _same_sample(sample: str, wanted: str) -> bool:
    """Compare `name{a="1",b="2"}` samples ignoring label order."""
    name, _, labels = sample.partition("{")
    wanted_name, _, wanted_labels = wanted.partition("{")
    return name == wanted_name and sorted(labels.rstrip("}").split(",")) == sorted(
        wanted_labels.rstrip("}").split(",")
    )


def decode_png(b64: str) -> PIL.Image.Image:
    image = PIL.Image.open(io.BytesIO(base64.b64decode(b64)))
    image.load()
    return image
