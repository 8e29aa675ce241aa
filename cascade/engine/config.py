"""The engine's limits as one typed object, importable without torch (the CLI builds it from flags)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineConfig:
    """Limits of the engine; every one is documented in docs/SERVER.md."""

    max_queue: int = 64  # accepted, unfinished requests (waiting + running); more get QueueFullError
    max_batch_size: int = 8  # running requests per stage
    memory_budget: int | None = None  # pixels of all running rows together (a device memory proxy)
    request_timeout_s: float | None = 300.0
    previews: bool = True  # previews for callers that read progress (`RequestHandle.progress`)
    # a preview of the stage's current x0 prediction after every `preview_every` steps (0: only each
    # stage's finished image); 10 is AUTOMATIC1111's live-preview default. Latent stages skip these.
    preview_every: int = 10

    def __post_init__(self) -> None:
        for name in ("max_queue", "max_batch_size", "memory_budget"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if self.request_timeout_s is not None and not self.request_timeout_s >= 0:
            raise ValueError(f"request_timeout_s must be >= 0, got {self.request_timeout_s}")
        if self.preview_every < 0:
            raise ValueError(f"preview_every must be >= 0, got {self.preview_every}")
