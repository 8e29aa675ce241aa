"""ASGI middleware: a request body must be small (413) and arrive in time (408) before it is parsed.

A declared Content-Length over the limit is refused without reading; a chunked body is read up to
the limit and refused as soon as it passes it. A body still incomplete `timeout_s` after the handler
began reading it is answered 408 and its connection closed, so a client trickling bytes cannot hold a
slot. Bodies within the limits are buffered (a prompt and a few numbers; on upload paths, images of at
most `max_upload_bytes`) and handed on
unchanged; later `receive` calls go to the server as usual, so disconnects are still seen.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import APIError


def too_large(limit: int) -> APIError:
    message = f"the request body is larger than {limit} bytes"
    return APIError(413, message, code="request_too_large", headers={"Connection": "close"})


def too_slow(timeout_s: float) -> APIError:
    message = f"the request body did not arrive within {timeout_s:g} s"
    return APIError(408, message, code="request_timeout", headers={"Connection": "close"})


UPLOAD_PATHS = frozenset({"/v1/images/edits"})  # bodies that carry images get `max_upload_bytes`


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float, max_upload_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_upload_bytes if scope["path"] in UPLOAD_PATHS else self.max_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise too_large(limit)
        try:
            async with asyncio.timeout(self.timeout_s):
                body = await self._read(receive, limit)
        except TimeoutError:
            raise too_slow(self.timeout_s) from None
        if body is None:  # the client left before sending it all
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive, limit: int) -> bytearray | None:
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            body += message.get("body", b"")
            if len(body) > limit:
                raise too_large(limit)
            if not message.get("more_body", False):
                return body
