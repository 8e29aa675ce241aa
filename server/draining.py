"""ASGI middleware for the drain (server/http_server.py): it stamps each request with the time its head
arrived, so a call in flight when SIGTERM comes is still served while later ones get 503 `draining`;
and from then on every response asks its client to close the connection, so kept-alive clients
reconnect (to another replica) instead of sending to a socket about to close."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.service import Service, State


class DrainMiddleware:
    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def closing_send(message: Message) -> None:
            if message["type"] == "http.response.start" and self.service.state is State.DRAINING:
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["arrived_at"] = time.monotonic()
        await self.app(scope, receive, closing_send)
