"""ASGI middleware for the drain (server/http_server.py): from SIGTERM on, every response asks its client
to close the connection, so kept-alive clients reconnect (to another replica) instead of sending to a
socket about to close. (Which calls are still served is decided by when their head arrived, stamped by
the protocol in server/connections.py.)"""

from __future__ import annotations

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

        await self.app(scope, receive, closing_send if scope["type"] == "http" else send)
