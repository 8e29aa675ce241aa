"""Short-lived PNGs for `response_format=url`: an unguessable token, an expiry, a bound on memory.

The token is the only secret: like OpenAI's signed image URLs, a URL works without an API key (so a
browser can show it) until it expires. The store lives in memory; a restart forgets it.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class ImageStore:
    """PNG bytes by token, each for `ttl_s` seconds; beyond `max_bytes` the oldest go first."""

    def __init__(self, ttl_s: float, max_bytes: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self.clock = clock
        self._items: OrderedDict[str, tuple[bytes, float]] = OrderedDict()  # oldest first
        self._bytes = 0
        self._lock = threading.Lock()

    def put(self, png: bytes) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._expire(self.clock())
            self._items[token] = (png, self.clock() + self.ttl_s)
            self._bytes += len(png)
            while self._bytes > self.max_bytes and len(self._items) > 1:
                self._drop(next(iter(self._items)))
        return token

    def get(self, token: str) -> bytes | None:
        """The PNG, or None when the token is unknown or expired."""
        with self._lock:
            self._expire(self.clock())
            item = self._items.get(token)
            return item[0] if item else None

    def _expire(self, now: float) -> None:
        while self._items:
            token, (_, expires) = next(iter(self._items.items()))
            if expires > now:
                return
            self._drop(token)

    def _drop(self, token: str) -> None:
        png, _ = self._items.pop(token)
        self._bytes -= len(png)
