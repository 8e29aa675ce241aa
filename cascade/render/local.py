"""Rendering on this machine through the engine (`cascade.engine.BatchingEngine`), as the server does.

Jobs are submitted in batch order and kept in flight `batch_size * (stages + 1)` at a time, enough for
every stage to run full batches while stage I takes in the next ones; results are collected oldest
first, so images come back in submission order. While it waits for the oldest, it hands back the
denoising progress of every image in flight (`Progress`), from the engine's per-step events.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from cascade.engine import BatchingEngine, EngineConfig, EngineRequestFailed, RequestHandle, StageProgress
from cascade.images import encode_png
from cascade.pipeline import Cascade
from cascade.render.defaults import DEFAULT_BATCH_SIZE
from cascade.render.plan import ImageJob


@dataclass(frozen=True)
class Rendered:
    """What a backend hands back for one job: the PNG's bytes, or why there are none."""

    name: str
    png: bytes | None
    error: str | None = None
    worker: str | None = None  # which Ray worker rendered it (host:pid); None on the local path


@dataclass(frozen=True)
class Progress:
    """Denoising done on images not handed back yet: file name -> the fraction of its steps (0 to 1,
    every stage's steps together). Only the images whose fraction changed since the last `Progress`."""

    done: Mapping[str, float]


def step_fraction(stage_steps: Sequence[int], stage_names: Sequence[str], event: StageProgress) -> float:
    """How much of an image's denoising `event` says is done, each stage weighted by its step count."""
    depth = stage_names.index(event.stage)
    before = sum(stage_steps[:depth])
    current = stage_steps[depth] * event.step / max(event.steps, 1)
    return (before + current) / max(sum(stage_steps), 1)


def png_text(job: ImageJob) -> dict[str, str]:
    """The PNG's text chunks: the prompt, the seed and every setting (deterministic, no timestamps)."""
    return {"prompt": job.request.prompt, "seed": str(job.request.seed), "render": job.to_row()}


def render_local(
    cascade: Cascade,
    jobs: Iterable[ImageJob],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    stop: threading.Event | None = None,
    progress: bool = True,
) -> Iterator[Rendered | Progress]:
    """Render `jobs` through a BatchingEngine, yielding each result as soon as it and all older ones are
    done, and with `progress`, a `Progress` whenever the engine has stepped images in flight.

    When `stop` is set, nothing more is submitted, the oldest `batch_size` requests in flight (the batch
    furthest along) are finished and yielded, and the rest are cancelled.
    """
    window = batch_size * (len(cascade.stages) + 1)
    config = EngineConfig(max_queue=window, max_batch_size=batch_size, request_timeout_s=None, previews=False)
    engine = BatchingEngine(cascade, config)
    engine.start()
    names = [stage.spec.name for stage in cascade.stages]
    stepped = threading.Event()  # set on the engine's thread by every event of a request in flight
    reported: dict[str, float] = {}
    pending = iter(jobs)
    in_flight: deque[tuple[ImageJob, RequestHandle]] = deque()

    def changes() -> Progress | None:
        done = {}
        for job, handle in in_flight:
            event = handle.latest_progress
            if event is not None and handle.final is None:
                fraction = step_fraction([s["steps"] for s in job.stages], names, event)
                if fraction != reported.get(job.name):
                    done[job.name] = reported[job.name] = fraction
        return Progress(done) if done else None

    try:
        while True:
            while len(in_flight) < window and not (stop and stop.is_set()):
                job = next(pending, None)
                if job is None:
                    break
                handle = engine.submit(job.request, verdict=job.verdict, progress=progress)
                handle.on_event = lambda event: stepped.set()
                in_flight.append((job, handle))
            if stop and stop.is_set():
                while len(in_flight) > batch_size:
                    in_flight.pop()[1].cancel()
            if not in_flight:
                return
            job, handle = in_flight[0]
            while progress and handle.final is None:
                stepped.wait()
                stepped.clear()  # before reading the handles: an event from here on sets it again
                if (update := changes()) is not None:
                    yield update
            in_flight.popleft()
            reported.pop(job.name, None)
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
