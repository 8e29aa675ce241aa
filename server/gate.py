"""ASGI middleware: who is calling (401) and whether they may call now (429), before any body is parsed.

It runs ahead of routing, so a malformed body from a caller without a key is a 401, as
docs/SERVER.md promises, and an unauthenticated caller learns nothing about our validation. Open to
all: the health probes, the page, image URLs (their token is the capability), and `/metrics` and
`/openapi.json` unless `metrics_need_key` is set.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from server.auth import RateLimiter, retry_after_header
from server.config import ServerConfig
from server.errors import RATE, APIError

ALWAYS_OPEN = ("/healthz", "/readyz", "/")
METADATA = ("/metrics", "/openapi.json")
IMAGE_FILES = "/v1/images/files/"


def needs_key(path: str, config: ServerConfig) -> bool:
    if path in ALWAYS_OPEN or path.startswith(IMAGE_FILES):
        return False
    return config.metrics_need_key or path not in METADATA


class Gate:
    def __init__(self, app: ASGIApp, config: ServerConfig, limiter: RateLimiter | None) -> None:
        self.app = app
        self.config = config
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and needs_key(scope["path"], self.config):
            self.admit(scope)
        await self.app(scope, receive, send)

    def admit(self, scope: Scope) -> None:
        caller = self.identify(scope)
        wait = self.limiter.take(caller) if self.limiter else 0.0
        if wait:
            raise APIError(
                429,
                "rate limit reached; retry later",
                type=RATE,
                code="rate_limit_exceeded",
                headers={"Retry-After": retry_after_header(wait)},
            )

    def identify(self, scope: Scope) -> str:
        """The API key's id, or the client's address when keys are off (for rate limits)."""
        keys = self.config.api_keys
        if keys is None:
            client = scope.get("client")
            return f"addr:{client[0] if client else 'unknown'}"
        challenge = {"WWW-Authenticate": "Bearer"}
        scheme, _, key = Headers(scope=scope).get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            message = "missing API key: send 'Authorization: Bearer <key>'"
            raise APIError(401, message, code="invalid_api_key", headers=challenge)
        caller = keys.identify(key.strip())
        if caller is None:
            raise APIError(401, "incorrect API key", code="invalid_api_key", headers=challenge)
        return caller
