"""From the first SIGTERM: new calls get 503 `draining` and `Connection: close`, accepted work finishes,
then the server exits; a kept-alive client gets that answer, not a reset."""

from __future__ import annotations

import json
import signal
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.server.live_server import wait_until
from tests.server.test_connections import connect, read_to_close

CALL = {"prompt": "a red star", "size": "64x64", "steps": 40}


def test_kept_alive_clients_get_503_draining_while_accepted_work_finishes(serve):
    server = serve()
    with httpx.Client(base_url=server.url, timeout=120) as kept, ThreadPoolExecutor(1) as pool:
        assert kept.get("/healthz").status_code == 200  # opens the connection the follow-up reuses
        running = pool.submit(httpx.post, f"{server.url}/v1/images/generations", json=CALL, timeout=120)
        wait_until(lambda: server.service.engine.queue_depth == 1, what="the first call to be accepted")
        server.server.handle_exit(signal.SIGTERM, None)
        follow_up = kept.post("/v1/images/generations", json=CALL)
        finished = running.result()
    assert follow_up.status_code == 503 and follow_up.json()["error"]["code"] == "draining"
    assert follow_up.headers["connection"] == "close" and int(follow_up.headers["retry-after"]) >= 1
    assert finished.status_code == 200 and len(finished.json()["data"]) == 1
    assert finished.headers["connection"] == "close"
    wait_until(lambda: not server.thread.is_alive(), what="the server to exit once idle")


def test_a_call_whose_head_arrived_before_the_signal_is_served(serve):
    server = serve()
    body = json.dumps({"prompt": "a red star", "size": "16x16", "steps": 2}).encode()
    head = "POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    with connect(server) as sock:
        sock.sendall(head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode())
        wait_until(lambda: head_parsed(server, "/v1/images/generations"), what="the call's head to be parsed")
        server.server.handle_exit(signal.SIGTERM, None)
        sock.sendall(body)
        answer = read_to_close(sock)
    assert answer.startswith(b"HTTP/1.1 200") and b'"b64_json"' in answer
    wait_until(lambda: not server.thread.is_alive(), what="the server to exit once idle")


def head_parsed(server, path: str) -> bool:
    """Whether a connection has parsed the head of a call to `path`. (The server's task set is not
    enough: the readiness probe's finished task can linger there, before this call's head arrived.)"""
    connections = list(server.server.server_state.connections)
    return any((cycle := getattr(c, "cycle", None)) and cycle.scope["path"] == path for c in connections)
