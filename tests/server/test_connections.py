"""Slow or idle clients cannot hold the server: heads and bodies have deadlines, connections a cap."""

from __future__ import annotations

import json
import socket

import httpx

from server.config import ServerConfig
from tests.server.live_server import wait_until

QUICK = ServerConfig(header_timeout_s=0.5, body_timeout_s=0.5)


def connect(server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.settimeout(60)  # a failing test ends here rather than hanging; no test waits this long
    return sock


def read_to_close(sock: socket.socket) -> bytes:
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


def error_of(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    return status, json.loads(body)["error"]


def test_a_request_head_that_stops_arriving_is_answered_408_and_closed(serve):
    server = serve(QUICK)
    with connect(server) as sock:
        sock.sendall(b"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nContent-")
        status, error = error_of(read_to_close(sock))
    assert status == 408 and error["code"] == "request_timeout"


def test_a_connection_that_sends_nothing_is_closed(serve):
    server = serve(QUICK)
    with connect(server) as sock:
        assert read_to_close(sock) == b""


def test_a_body_that_stops_arriving_is_answered_408_and_closed(serve):
    server = serve(QUICK)
    with connect(server) as sock:
        head = b"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        sock.sendall(head + b"Content-Length: 100\r\n\r\n" + b'{"prompt": ')
        answer = read_to_close(sock)
    status, error = error_of(answer)
    assert status == 408 and error["code"] == "request_timeout" and b"connection: close" in answer.lower()


def test_past_the_connection_cap_calls_get_503_and_slow_sockets_are_cut_so_health_returns(serve):
    server = serve(ServerConfig(header_timeout_s=1.0, max_connections=4))
    slow = [connect(server) for _ in range(4)]
    for sock in slow:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # a head that never ends
    try:
        wait_until(lambda: len(server.server.server_state.connections) == 4, what="four open connections")
        refused = httpx.get(f"{server.url}/healthz", timeout=60)
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "too_many_connections"
        wait_until(lambda: httpx.get(f"{server.url}/healthz", timeout=60).status_code == 200, what="health")
    finally:
        for sock in slow:
            sock.close()
