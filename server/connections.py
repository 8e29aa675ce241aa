"""uvicorn's h11 protocol with the limits a public server needs on its connections.

- **A request head must arrive in time.** uvicorn holds a connection that has sent part of a head (or
  nothing) forever, so a few hundred slow sockets starve everyone; here a head not complete within
  `header_timeout_s` of the connection (or of its first byte after a response) gets a 408 and is closed.
  Idle kept-alive connections are closed by uvicorn's own keep-alive timeout. (The body's deadline is
  kept by `server.body_limit`, which reads it.)
- **A cap on open connections.** Past `max_connections` a new connection is answered 503
  `too_many_connections` in OpenAI's shape and closed before anything else is read.
- **Nagle's algorithm off.** uvicorn writes a response's head and body as two small writes, so after a
  connection's first exchanges the body would wait for the client's delayed ACK: 40 ms added to every
  answer on Linux, a fifth of a small image's latency (docs/BENCHMARKS.md).
- **Each request stamped with when its head arrived** (`scope["state"]["arrived_at"]`, monotonic), taken
  before uvicorn parses the head and starts the app's task, so the drain (`Service.accepts`) serves
  every call whose head came before the signal, however late its task first runs.

The h11 implementation is named, not uvicorn's "auto" choice, because the checks read its state.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from dataclasses import dataclass
from http import HTTPStatus

from uvicorn.protocols.http.h11_impl import H11Protocol

from server.errors import APIError


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_s: float
    max_connections: int


def raw_response(error: APIError) -> bytes:
    """A whole HTTP/1.1 error response that closes the connection, for use below the ASGI app."""
    body = json.dumps(error.body()).encode("utf-8")
    head = (
        f"HTTP/1.1 {error.status} {HTTPStatus(error.status).phrase}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def guarded_protocol(limits: ConnectionLimits) -> type[H11Protocol]:
    """The protocol class to give uvicorn (`http=`) for these limits."""
    timed_out = raw_response(
        APIError(
            408,
            f"the request head did not arrive within {limits.header_timeout_s:g} s",
            code="request_timeout",
        )
    )
    too_many = raw_response(
        APIError(
            503,
            "the server has too many open connections; retry shortly",
            type="server_error",
            code="too_many_connections",
        )
    )

    class GuardedHTTPProtocol(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None
        _head_started = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            over_limit = len(self.connections) >= limits.max_connections
            super().connection_made(transport)
            if over_limit:
                transport.write(too_many)
                transport.close()
                return
            self._arm_head_timer()

        def data_received(self, data: bytes) -> None:
            if not self._in_request():
                self._head_started = True
                if self._head_timer is None:
                    self._arm_head_timer()
            super().data_received(data)

        def handle_events(self) -> None:
            arrived_at, cycle = time.monotonic(), self.cycle
            super().handle_events()
            if self.cycle is not None and self.cycle is not cycle:  # a new request's head was parsed
                self.cycle.scope["state"]["arrived_at"] = arrived_at

        def on_response_complete(self) -> None:
            self._cancel_head_timer()
            self._head_started = False
            super().on_response_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_head_timer()
            super().connection_lost(exc)

        def _in_request(self) -> bool:
            return self.cycle is not None and not self.cycle.response_complete

        def _arm_head_timer(self) -> None:
            self._head_timer = self.loop.call_later(limits.header_timeout_s, self._head_timed_out)

        def _cancel_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self.transport.is_closing() or self._in_request():
                return
            if self._head_started:
                self.transport.write(timed_out)
            self.transport.close()

    return GuardedHTTPProtocol
