"""`cascade serve` as a process: SIGTERM stops intake at once and loses no accepted request."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from tests.server.live_server import decode_png, metric, ready, wait_until

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def served_process(own_folder, tmp_path):
    """`python -m server` (what `cascade serve` runs) on a free port, its log in a file."""
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    command = [sys.executable, "-m", "server", "--model", str(own_folder), "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--max-batch-size", "2", "--log-level", "warning"], cwd=ROOT, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: process.poll() is not None or ready(url), timeout=120, what="the server to start")
        assert process.poll() is None, (tmp_path / "server.log").read_text()
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        log.close()


def test_sigterm_finishes_every_accepted_request_then_exits_0(served_process):
    process, url = served_process
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=120)
    with ThreadPoolExecutor(4) as pool:
        calls = [
            pool.submit(
                client.images.generate, prompt="a red star", size="64x64", extra_body={"seed": s, "steps": 4}
            )
            for s in range(4)
        ]
        wait_until(lambda: metric(url, "cascade_queue_depth") == 4, what="all four to be accepted")
        process.send_signal(signal.SIGTERM)
        wait_until(lambda: not ready(url), what="/readyz to turn away")
        with pytest.raises((openai.InternalServerError, openai.APIConnectionError)):
            client.images.generate(prompt="a blue ring", size="16x16", extra_body={"steps": 1})
        images = [decode_png(call.result().data[0].b64_json) for call in calls]
    assert [image.size for image in images] == [(64, 64)] * 4
    assert process.wait(timeout=60) == 0


def test_sigterm_to_serve_on_ray_finishes_the_calls_in_flight_then_exits_0(own_folder, tmp_path):
    """`cascade serve --ray`: SIGTERM shuts Serve down, which lets each replica finish its ongoing
    calls (streams included) before it stops."""
    pytest.importorskip("ray.serve")
    port = free_port()
    command = [sys.executable, "-m", "server", "--ray", "--replicas", "1", "--model", str(own_folder)]
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [*command, "--port", str(port), "--log-level", "warning"], cwd=ROOT, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    body = {"prompt": "a big circle", "size": "64x64", "steps": [40, 1, 1]}

    def call(seed: int, started: threading.Barrier) -> str:
        with httpx.stream("POST", f"{url}/v1/generate", json={**body, "seed": seed}, timeout=120) as stream:
            lines = stream.iter_lines()
            next(line for line in lines if line == "event: progress")
            started.wait(120)
            return "\n".join(lines)

    try:
        wait_until(lambda: process.poll() is not None or ready(url), timeout=180, what="Serve to start")
        assert process.poll() is None, (tmp_path / "server.log").read_text()
        started = threading.Barrier(3)
        with ThreadPoolExecutor(2) as pool:
            tails = [pool.submit(call, seed, started) for seed in (1, 2)]
            started.wait(120)  # both are running on the replica
            process.send_signal(signal.SIGTERM)
            assert all("event: done" in tail.result() for tail in tails)
        assert process.wait(timeout=150) == 0, (tmp_path / "server.log").read_text()
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        log.close()
