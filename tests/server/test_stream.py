"""`POST /v1/generate`: Server-Sent Events in order, previews per stage, and cancellation on disconnect."""

from __future__ import annotations

import json
import socket

import httpx
import numpy as np
import PIL.Image
import pytest

from cascade.engine import EngineConfig
from cascade.safeguards import Safeguards
from server.config import ServerConfig
from tests.server.live_server import decode_png, wait_until


def events(server, body: dict) -> list[tuple[str, dict]]:
    """The whole stream as (event, data) pairs."""
    with httpx.stream("POST", f"{server.url}/v1/generate", json=body, timeout=60) as stream:
        assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
        return parse(stream.iter_text())


def parse(chunks) -> list[tuple[str, dict]]:
    parsed = []
    for block in "".join(chunks).split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if lines:
            parsed.append((lines["event"], json.loads(lines["data"])))
    return parsed


@pytest.fixture()
def server(serve):
    return serve()


def test_stream_reports_queue_position_then_each_stage_progress_and_preview_then_the_image(server):
    stream = events(server, {"prompt": "a red star", "size": "64x64", "seed": 2, "steps": [2, 3, 1]})
    names = [name for name, _ in stream]
    assert names[0] == "queued" and stream[0][1]["position"] >= 1
    assert names[-2:] == ["image", "done"]
    progress = [(d["resolution"], d["step"], d["steps"]) for n, d in stream if n == "progress"]
    assert progress == [(16, 1, 2), (16, 2, 2), (32, 1, 3), (32, 2, 3), (32, 3, 3), (64, 1, 1)]
    previews = [(i, d) for i, (n, d) in enumerate(stream) if n == "preview"]
    assert [d["resolution"] for _, d in previews] == [16, 32, 64]
    for position, data in previews:  # each preview comes right after its stage's last step
        name, before = stream[position - 1]
        assert name == "progress" and before["resolution"] == data["resolution"]
        assert before["step"] == before["steps"]
        assert decode_png(data["b64_json"]).size == (data["resolution"],) * 2
    final = stream[-2][1]
    assert final["seed"] == 2 and final["b64_json"] == previews[-1][1]["b64_json"]


def test_stream_of_n_images_tags_every_event_with_its_index(server):
    stream = events(server, {"prompt": "a blue ring", "size": "16x16", "n": 2, "seed": 8, "steps": 1})
    images = {d["index"]: d["seed"] for n, d in stream if n == "image"}
    assert images == {0: 8, 1: 9}
    assert {d["index"] for n, d in stream if n == "queued"} == {0, 1}
    assert stream[-1] == ("done", {"created": stream[-1][1]["created"], "count": 2})


def test_stream_image_equals_the_images_api_image(server):
    settings = {"prompt": "a green heart", "size": "32x32", "seed": 12, "steps": 2}
    streamed = next(d for n, d in events(server, settings) if n == "image")["b64_json"]
    via_sdk = server.client().images.generate(
        prompt=settings["prompt"], size="32x32", extra_body={"seed": 12, "steps": 2}
    )
    assert streamed == via_sdk.data[0].b64_json


def test_errors_before_acceptance_are_plain_json_not_a_stream(server):
    answer = httpx.post(f"{server.url}/v1/generate", json={"prompt": "a red star", "size": "8x8"})
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "size"


def test_failure_after_acceptance_is_an_error_event_that_ends_the_stream(serve):
    server = serve(ServerConfig(engine=EngineConfig(request_timeout_s=0.0)))
    stream = events(server, {"prompt": "a red star", "size": "16x16", "steps": 1})
    assert [n for n, _ in stream] == ["queued", "error"]
    assert stream[-1][1]["error"]["code"] == "timeout"


def test_disconnecting_cancels_the_request_and_frees_its_slot(serve):
    server = serve(ServerConfig(engine=EngineConfig(max_queue=1), max_images=1))
    body = {"prompt": "a red star", "size": "16x16", "steps": 250}
    with httpx.stream("POST", f"{server.url}/v1/generate", json=body) as stream:
        lines = stream.iter_lines()
        assert "progress" in next(line for line in lines if line.startswith("event: progress"))
        full = httpx.post(f"{server.url}/v1/generate", json={**body, "steps": 1})
        assert full.status_code == 429  # the running request holds the only place
    wait_until(lambda: server.metric("cascade_requests_total", outcome="cancelled") == 1, what="cancellation")
    assert server.metric("cascade_queue_depth") == 0
    assert server.client().images.generate(prompt="a blue ring", size="16x16", extra_body={"steps": 1}).data


def test_abandoned_images_call_is_cancelled_too(serve):
    server = serve(ServerConfig(engine=EngineConfig(max_queue=1), max_images=1))
    body = json.dumps({"prompt": "a red star", "size": "16x16", "steps": 250})
    head = "POST /v1/images/generations HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
    with socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1]))) as sock:
        sock.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n{body}".encode())
        wait_until(lambda: server.metric("cascade_queue_depth") == 1, what="acceptance")
    wait_until(lambda: server.metric("cascade_requests_total", outcome="cancelled") == 1, what="cancellation")
    assert server.metric("cascade_requests_total", outcome="completed") is None


def test_every_image_that_leaves_the_server_passes_the_output_checker(serve, served_cascade, monkeypatch):
    def blank_everything(image):
        return PIL.Image.new("RGB", image.size), True

    guarded = Safeguards(
        prompt_filter=served_cascade.safeguards.prompt_filter, output_checker=blank_everything
    )
    monkeypatch.setattr(served_cascade, "safeguards", guarded)
    stream = events(serve(), {"prompt": "a red star", "size": "64x64", "steps": 1})
    sent = [d["b64_json"] for n, d in stream if n in ("preview", "image")]
    assert len(sent) == 4
    assert all(not np.asarray(decode_png(b64)).any() for b64 in sent)
