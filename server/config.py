"""The service's limits and switches as one typed object: the CLI and tests build the same thing.

Every default here is documented in docs/SERVER.md; change them together.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cascade.engine import EngineConfig
from server.auth import KeyStore

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class RateLimit:
    """A token bucket per client: `per_minute` requests sustained, bursts of up to `burst`."""

    per_minute: float
    burst: int

    def __post_init__(self) -> None:
        if self.per_minute <= 0 or self.burst < 1:
            raise ValueError(f"rate limit needs per_minute > 0 and burst >= 1, got {self}")


@dataclass(frozen=True)
class ServerConfig:
    """What the HTTP layer enforces before a request reaches the engine, and what it serves."""

    engine: EngineConfig = field(default_factory=EngineConfig)
    max_images: int = 4  # `n` per request
    max_prompt_chars: int = 1000  # prompt and negative_prompt, each
    max_steps: int = 250  # per stage; the engine itself allows up to 1000
    max_body_bytes: int = 32 * KIB
    max_upload_bytes: int = 8 * MIB  # a /v1/images/edits body: its image, mask and fields together
    api_keys: KeyStore | None = None  # None: no authentication
    rate_limit: RateLimit | None = None  # per API key, or per client address without keys
    url_ttl_s: float = 600.0  # how long a response_format=url image stays fetchable
    url_store_bytes: int = 256 * MIB  # oldest images are dropped first beyond this
    public_url: str | None = None  # base of image URLs; default: the URL the client called
    metrics_need_key: bool = False  # /metrics and /openapi.json open to all (scrapers, docs) unless set
    header_timeout_s: float = 10.0  # a request head must arrive within this of the connection's start
    body_timeout_s: float = 30.0  # and its body within this of the handler starting to read it
    keep_alive_s: float = 5.0  # an idle kept-alive connection is closed after this
    max_connections: int = 512  # open connections; more are answered 503 too_many_connections
    forwarded_allow_ips: str | None = None  # proxies whose X-Forwarded-For is believed; None: nobody

    def __post_init__(self) -> None:
        counts = (
            "max_images",
            "max_prompt_chars",
            "max_steps",
            "max_body_bytes",
            "max_upload_bytes",
            "url_store_bytes",
        )
        for name in (*counts, "max_connections"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_images > self.engine.max_queue:
            raise ValueError(
                f"max_images ({self.max_images}) cannot exceed max_queue ({self.engine.max_queue})"
            )
        for name in ("url_ttl_s", "header_timeout_s", "body_timeout_s", "keep_alive_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
