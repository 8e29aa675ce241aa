"""API keys and per-client rate limits, with no web framework in them.

Keys are kept only as SHA-256 digests, in memory and (optionally) on disk: a key file may list plain
keys, which are hashed as they are read, or `sha256:<hex>` lines, so the file need not hold a secret.
A presented key is hashed and compared with every stored digest by `hmac.compare_digest`, so neither
the comparison nor the loop stops early on a near match.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

KEYS_ENV = "CASCADE_API_KEYS"  # comma-separated keys or sha256:<hex> digests
DIGEST_PREFIX = "sha256:"


def hash_key(key: str) -> str:
    """The line to put in a key file instead of the key itself."""
    return DIGEST_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class KeyStore:
    """The digests of the accepted API keys."""

    digests: tuple[bytes, ...]

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> KeyStore:
        """Keys or `sha256:<hex>` digests; blank entries and `#` comments are skipped."""
        digests = []
        for raw in entries:
            entry = raw.strip()
            if not entry or entry.startswith("#"):
                continue
            if entry.startswith(DIGEST_PREFIX):
                hex_digest = entry[len(DIGEST_PREFIX) :]
                if len(hex_digest) != 64:
                    raise ValueError("a sha256: key entry needs 64 hex digits")
                digests.append(bytes.fromhex(hex_digest))
            else:
                digests.append(hashlib.sha256(entry.encode("utf-8")).digest())
        if not digests:
            raise ValueError("no API keys found")
        return cls(tuple(digests))

    @classmethod
    def from_file(cls, path: str | Path) -> KeyStore:
        return cls.from_entries(Path(path).read_text(encoding="utf-8").splitlines())

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> KeyStore | None:
        value = (os.environ if environ is None else environ).get(KEYS_ENV, "")
        return cls.from_entries(value.split(",")) if value.strip() else None

    def identify(self, presented: str) -> str | None:
        """A stable, non-secret id for an accepted key (for rate limits and logs), or None."""
        digest = hashlib.sha256(presented.encode("utf-8")).digest()
        matched = False
        for stored in self.digests:
            matched |= hmac.compare_digest(digest, stored)
        return f"key:{digest.hex()[:12]}" if matched else None


class RateLimiter:
    """Token buckets by client id: each holds up to `burst` tokens and refills at `per_minute` / 60 per s."""

    def __init__(self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, when)
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """Spend one token: 0.0 when allowed, else the seconds until a token is back (the Retry-After)."""
        with self._lock:
            now = self.clock()
            tokens, then = self._buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                self._forget_full_buckets(now)
                return 0.0
            self._buckets[client] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def _forget_full_buckets(self, now: float) -> None:
        """A full bucket is the same as none: drop them so many clients cannot grow the table forever."""
        if len(self._buckets) > 10_000:
            full_after = self.burst / self.rate
            self._buckets = {c: v for c, v in self._buckets.items() if now - v[1] < full_after}


def retry_after_header(seconds: float) -> str:
    """Retry-After in whole seconds, never 0 (a client would retry at once and be refused again)."""
    return str(max(1, math.ceil(seconds)))
