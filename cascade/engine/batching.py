"""The continuous-batching engine: many callers' requests share each stage's U-Net forward.

One worker thread owns the model and drives the `EngineLoop`; callers talk to it only through
`submit` / `submit_many`, the `RequestHandle`s they return and their events. The server and batch
rendering use it; `Cascade.run` drives the same loop inline.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Sequence
from typing import Protocol

import torch

from cascade.engine.handle import Queued, RequestHandle
from cascade.engine.loop import EngineConfig, EngineLoop, Model, Work
from cascade.engine.metrics import EngineMetrics
from cascade.engine.service_rate import ServiceRate
from cascade.errors import PromptRejected
from cascade.request import GenerationRequest
from cascade.safeguards import Safeguards
from safety.verdict import SafetyVerdict


class QueueFullError(Exception):
    """The engine holds `max_queue` unfinished requests already; retry later."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"the queue is full; retry in {retry_after_s:.0f} s")
        self.retry_after_s = retry_after_s


class EngineUnavailableError(Exception):
    """Not started yet, or draining for shutdown."""


class ScreenedModel(Model, Protocol):
    """A model with the safeguards that screen its prompts (`Cascade`)."""

    safeguards: Safeguards


class BatchingEngine:
    """Continuous step-level batching over a cascade, on one worker thread."""

    def __init__(
        self, cascade: ScreenedModel, config: EngineConfig | None = None, metrics: EngineMetrics | None = None
    ):
        self.cascade = cascade
        self.config = config or EngineConfig()
        self.metrics = metrics or EngineMetrics()
        self.loop = EngineLoop(cascade, self.config, self.metrics, on_finished=self._finished)
        self.rate = ServiceRate()
        self._inbox: deque[Work] = deque()
        self._wake = threading.Condition()
        self._in_flight = 0
        self._idle = threading.Event()
        self._idle.set()
        self._draining = False
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        threads = torch.get_num_threads()  # the starting thread's setting, which the worker keeps
        self._thread = threading.Thread(
            target=self._serve_forever, args=(threads,), name="cascade-engine", daemon=True
        )
        self._thread.start()

    @property
    def ready(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._draining

    @property
    def queue_depth(self) -> int:
        """Requests accepted and not yet finished."""
        return self._in_flight

    def running_batch_sizes(self) -> dict[str, int]:
        return self.loop.running_batch_sizes()

    def submit(
        self,
        request: GenerationRequest,
        *,
        verdict: SafetyVerdict | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        progress: bool = True,
    ) -> RequestHandle:
        """Accept a request or refuse it at once (invalid, refused prompt, queue full, not ready)."""
        verdicts = None if verdict is None else [verdict]
        return self.submit_many([request], verdicts=verdicts, loop=loop, progress=progress)[0]

    def submit_many(
        self,
        requests: Sequence[GenerationRequest],
        *,
        verdicts: Sequence[SafetyVerdict] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        progress: bool = True,
    ) -> list[RequestHandle]:
        """Accept all of `requests` or none; an accepted request is never dropped later.

        Prompts are screened here, before queueing, so a refused prompt costs no model work; a caller
        that screened them already (batch rendering) passes the `verdicts` instead.
        `loop` is the event loop that will read the handles' events: by default the running one, so a
        caller that submits from a worker thread (to keep the filter off its loop) passes its own.
        `progress=False` is for callers that only want the result: no progress events, and no preview
        images made (or watermarked).
        """
        if not self.ready:
            raise EngineUnavailableError(
                "draining for shutdown" if self._draining else "the engine is not running"
            )
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
        works = [self.loop.prepare(request, RequestHandle(request, loop, progress)) for request in requests]
        for work, verdict in zip(works, verdicts or self._screen(requests), strict=True):
            if not verdict.allowed:
                raise PromptRejected(verdict)
            work.verdict = verdict
        with self._wake:
            excess = self._in_flight + len(works) - self.config.max_queue
            if excess > 0:
                raise QueueFullError(retry_after_s=self._retry_after(excess))
            if self._in_flight == 0:
                self.rate.busy()
            self._in_flight += len(works)
            self._idle.clear()
            positions = []
            for work in works:
                self._inbox.append(work)
                positions.append(len(self._inbox) + len(self.loop.waiting[0]))
            self._wake.notify()
        for work, position in zip(works, positions, strict=True):
            work.handle.emit(Queued(position))
        self.metrics.observe_queue_depth(self._in_flight)
        return [work.handle for work in works]

    def _screen(self, requests: Sequence[GenerationRequest]) -> list[SafetyVerdict]:
        try:
            return self.cascade.safeguards.screen_each([request.prompt for request in requests])
        except PromptRejected as refusal:
            self.metrics.count_safety_rejection(refusal.verdict.category or "unknown")
            raise

    def stop_accepting(self) -> None:
        """Refuse new requests from now on (shutdown has begun); accepted ones still finish."""
        self._draining = True

    async def drain(self) -> None:
        """Refuse new requests, finish every accepted one, then stop the worker."""
        self.stop_accepting()
        await asyncio.get_running_loop().run_in_executor(None, self._idle.wait)
        self.stop()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join()

    def _retry_after(self, slots: int) -> float:
        """Seconds until `slots` free up at the measured rate; before any measurement, a guess of one
        second per batch of requests ahead."""
        measured = self.rate.seconds_for(slots)
        return measured if measured is not None else max(1.0, self._in_flight / self.config.max_batch_size)

    def _serve_forever(self, threads: int) -> None:
        # A new thread takes torch's thread count from a process-wide value on its first op, which other
        # code may change meanwhile: trigger that first op, then pin the count this worker denoises with.
        torch.get_num_threads()
        torch.set_num_threads(threads)
        while True:
            with self._wake:
                while self._inbox:
                    self.loop.add(self._inbox.popleft())
                if self._stopping and self._in_flight == 0:
                    return
                if not self.loop.has_work:
                    self._wake.wait(timeout=1.0)
                    continue
            self.loop.step()

    def _finished(self, work: Work) -> None:
        with self._wake:
            self.rate.finished()
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()
        self.metrics.observe_queue_depth(self._in_flight)
