"""Rendering on this machine through the engine (`cascade.engine.BatchingEngine`), as the server does.

Jobs are submitted in batch order and kept in flight `batch_size * (stages + 1)` at a time, enough for
every stage to run full batches while stage I takes in the next ones; results are collected oldest
first, so images come back in submission order.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from cascade.engine import BatchingEngine, EngineConfig, EngineRequestFailed, RequestHandle
from cascade.images import encode_png
from cascade.pipeline import Cascade
from cascade.render.plan import ImageJob

DEFAULT_BATCH_SIZE = 8
DEFAULT_FORWARD_ROWS = 16  # a batch of 8 under guidance: two rows per request


@dataclass(frozen=True)
class Rendered:
    """What a backend hands back for one job: the PNG's bytes, or why there are none."""

    name: str
    png: bytes | None
    error: str | None = None
    worker: str | None = None  # which Ray worker rendered it (host:pid); None on the local path


def png_text(job: ImageJob) -> dict[str, str]:
    """The PNG's text chunks: the prompt, the seed and every setting (deterministic, no timestamps)."""
    return {"prompt": job.request.prompt, "seed": str(job.request.seed), "render": job.to_row()}


def render_local(
    cascade: Cascade,
    jobs: Iterable[ImageJob],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    stop: threading.Event | None = None,
) -> Iterator[Rendered]:
    """Render `jobs` through a BatchingEngine, yielding each result as soon as it and all older ones are done.

    When `stop` is set, nothing more is submitted, the oldest `batch_size` requests in flight (the batch
    furthest along) are finished and yielded, and the rest are cancelled.
    """
    window = batch_size * (len(cascade.stages) + 1)
    config = EngineConfig(max_queue=window, max_batch_size=batch_size, request_timeout_s=None, previews=False)
    engine = BatchingEngine(cascade, config)
    engine.start()
    pending = iter(jobs)
    in_flight: deque[tuple[ImageJob, RequestHandle]] = deque()
    try:
        while True:
            while len(in_flight) < window and not (stop and stop.is_set()):
                job = next(pending, None)
                if job is None:
                    break
                in_flight.append((job, engine.submit(job.request, verdict=job.verdict)))
            if stop and stop.is_set():
                while len(in_flight) > batch_size:
                    in_flight.pop()[1].cancel()
            if not in_flight:
                return
            job, handle = in_flight.popleft()
            try:
                result = handle.wait()
            except EngineRequestFailed as error:
                yield Rendered(job.name, None, f"{error.code}: {error}")
                continue
            yield Rendered(job.name, encode_png(result.image, png_text(job)))
    finally:
        for _, handle in in_flight:
            handle.cancel()
        engine.stop()
