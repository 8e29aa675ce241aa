"""The continuous-batching engine: many clients' requests share each stage's U-Net forward.

One worker thread owns the model. Each stage has a FIFO of waiting requests and a running batch; at every
step boundary the `SchedulingPolicy` picks a stage, admits waiting requests into its free slots, and the
stage advances all its running requests by one step in one forward (each at its own timestep, guidance
and solver). Requests leave as soon as their own steps are done and queue for the next stage. The HTTP
layer talks to this engine only through `submit`, the `RequestHandle` and its events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import PIL.Image
import torch

from cascade import Cascade, GenerationRequest, GenerationResult, InvalidRequestError
from cascade.stages import StageJob, StageSettings
from safety import PromptRejected
from server.scheduler import SchedulingPolicy, StageLoad

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Queued:
    position: int


@dataclass(frozen=True)
class StageProgress:
    stage: str
    resolution: int
    step: int
    steps: int


@dataclass(frozen=True)
class StagePreview:
    stage: str
    resolution: int
    image: PIL.Image.Image


@dataclass(frozen=True)
class Completed:
    result: GenerationResult


@dataclass(frozen=True)
class Failed:
    error: str
    code: str  # "cancelled", "timeout", "too_large" or "internal"


Event = Queued | StageProgress | StagePreview | Completed | Failed


class QueueFullError(Exception):
    """The engine holds `max_queue` unfinished requests already; retry later."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"the queue is full; retry in {retry_after_s:.0f} s")
        self.retry_after_s = retry_after_s


class EngineUnavailableError(Exception):
    """Not started yet, or draining for shutdown."""


class EngineRequestFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class EngineConfig:
    """Limits of the engine; every one is documented in docs/SERVER.md."""

    max_queue: int = 64  # accepted, unfinished requests (waiting + running); more get QueueFullError
    max_batch_size: int = 8  # running requests per stage
    memory_budget: int | None = None  # pixels of all running rows together (a device memory proxy)
    request_timeout_s: float | None = 300.0
    previews: bool = True


class NoMetrics:
    """The metrics interface the engine reports to; the server passes its Prometheus module instead."""

    def observe_queue_depth(self, depth: int) -> None: ...
    def observe_batch_size(self, stage: str, size: int) -> None: ...
    def observe_queue_wait(self, seconds: float) -> None: ...
    def observe_stage_latency(self, stage: str, seconds: float) -> None: ...
    def count_request(self, outcome: str) -> None: ...
    def count_images(self, count: int) -> None: ...
    def count_safety_rejection(self, category: str) -> None: ...


class RequestHandle:
    """The caller's side of one request: its events, its result, and a way to cancel it."""

    def __init__(
        self, request: GenerationRequest, loop: asyncio.AbstractEventLoop | None, progress: bool = True
    ) -> None:
        self.request = request
        self.progress = progress  # whether the caller reads StageProgress and StagePreview events
        self.id = uuid.uuid4().hex
        self._loop = loop
        self._queue: asyncio.Queue[Event] | None = asyncio.Queue() if loop else None
        self._cancelled = threading.Event()
        self._finished = threading.Event()
        self._final: Completed | Failed | None = None

    def cancel(self) -> None:
        """Stop this request at the next step boundary and free its slot."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    async def events(self) -> AsyncIterator[Event]:
        """Progress as it happens, ending with exactly one Completed or Failed. Consume once."""
        if self._queue is None:
            raise RuntimeError("events() needs the request to be submitted from a running event loop")
        while True:
            event = await self._queue.get()
            yield event
            if isinstance(event, Completed | Failed):
                return

    async def result(self) -> GenerationResult:
        async for event in self.events():
            if isinstance(event, Completed):
                return event.result
            if isinstance(event, Failed):
                raise EngineRequestFailed(event.code, event.error)
        raise AssertionError("unreachable: events end with Completed or Failed")

    def wait(self, timeout: float | None = None) -> GenerationResult:
        """Block until done: for callers without an event loop (batch rendering, benchmarks)."""
        if not self._finished.wait(timeout):
            raise TimeoutError(f"request {self.id} not finished after {timeout} s")
        if isinstance(self._final, Completed):
            return self._final.result
        raise EngineRequestFailed(self._final.code, self._final.error)

    def _emit(self, event: Event) -> None:
        if isinstance(event, Completed | Failed):
            self._final = event
            self._finished.set()
        if self._loop is not None and self._queue is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody is listening any more
                self._loop.call_soon_threadsafe(self._queue.put_nowait, event)


@dataclass(eq=False)
class _Work:
    """A request inside the engine: where it is in its plan and what it carries between stages."""

    handle: RequestHandle
    plan: list
    generator: torch.Generator
    accepted_at: float
    deadline: float | None
    depth: int = 0
    image: torch.Tensor | None = None
    job: StageJob | None = None
    entered_stage_at: float = 0.0
    truncated: bool = False
    cost: list[int] = field(default_factory=list)

    @property
    def settings(self) -> StageSettings:
        return self.plan[self.depth][1]


class BatchingEngine:
    """Continuous step-level batching over a Cascade, on one worker thread."""

    def __init__(self, cascade: Cascade, config: EngineConfig | None = None, metrics: object | None = None):
        self.cascade = cascade
        self.config = config or EngineConfig()
        self.metrics = metrics or NoMetrics()
        count = len(cascade.stages)
        self.policy = SchedulingPolicy([self.config.max_batch_size] * count, self.config.memory_budget)
        self._waiting: list[deque[_Work]] = [deque() for _ in range(count)]
        self._running: list[list[_Work]] = [[] for _ in range(count)]
        self._inbox: deque[_Work] = deque()
        self._wake = threading.Condition()
        self._in_flight = 0
        self._idle = threading.Event()
        self._idle.set()
        self._draining = False
        self._stopping = False
        self._thread: threading.Thread | None = None

    # ---- the caller's side -------------------------------------------------------------------------

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
    def draining(self) -> bool:
        return self._draining

    @property
    def queue_depth(self) -> int:
        """Requests accepted and not yet finished."""
        return self._in_flight

    def running_batch_sizes(self) -> dict[str, int]:
        return {stage.spec.name: len(r) for stage, r in zip(self.cascade.stages, self._running, strict=True)}

    def submit(
        self,
        request: GenerationRequest,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        progress: bool = True,
    ) -> RequestHandle:
        """Accept a request or refuse it at once (invalid, refused prompt, queue full, not ready)."""
        return self.submit_many([request], loop=loop, progress=progress)[0]

    def submit_many(
        self,
        requests: list[GenerationRequest],
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        progress: bool = True,
    ) -> list[RequestHandle]:
        """Accept all of `requests` or none; an accepted request is never dropped later.

        Every prompt is screened here, before queueing, so a refused prompt costs no model work.
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
        works = [self._prepare(request, RequestHandle(request, loop, progress)) for request in requests]
        for prompt in dict.fromkeys(request.prompt for request in requests):
            self._screen(prompt)
        with self._wake:
            if self._in_flight + len(works) > self.config.max_queue:
                raise QueueFullError(retry_after_s=self._retry_after())
            self._in_flight += len(works)
            self._idle.clear()
            positions = []
            for work in works:
                self._inbox.append(work)
                positions.append(len(self._inbox) + len(self._waiting[0]))
            self._wake.notify()
        for work, position in zip(works, positions, strict=True):
            work.handle._emit(Queued(position))
        self.metrics.observe_queue_depth(self._in_flight)
        return [work.handle for work in works]

    def _screen(self, prompt: str) -> None:
        try:
            self.cascade.safeguards.screen(prompt)
        except PromptRejected as refusal:
            self.metrics.count_safety_rejection(refusal.verdict.category or "unknown")
            raise

    def _prepare(self, request: GenerationRequest, handle: RequestHandle) -> _Work:
        """Validate one request and build its engine state; raises if it can never be accepted."""
        plan = self.cascade.plan(request)
        now = time.monotonic()
        timeout = self.config.request_timeout_s
        work = _Work(
            handle,
            plan,
            torch.Generator("cpu").manual_seed(request.seed),
            now,
            None if timeout is None else now + timeout,
            entered_stage_at=now,
        )
        work.cost = [row_cost(stage, settings) for stage, settings in plan]
        if not self.policy.fits_alone(max(work.cost)):
            raise InvalidRequestError(
                "size", "this size and guidance exceed the server's memory budget; ask for a smaller size"
            )
        return work

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

    def _retry_after(self) -> float:
        return max(1.0, self._in_flight / max(1, self.config.max_batch_size))

    # ---- the worker --------------------------------------------------------------------------------

    def _serve_forever(self, threads: int) -> None:
        # A new thread takes torch's thread count from a process-wide value on its first op, and the
        # prompt filter sets that value to 1 while it runs (safety.semantic.one_thread): pin ours first,
        # or a worker that starts during a screening denoises on one thread for good.
        torch.get_num_threads()  # triggers that first-op initialisation now
        torch.set_num_threads(threads)
        while True:
            with self._wake:
                self._waiting[0].extend(self._inbox)
                self._inbox.clear()
                if self._stopping and self._in_flight == 0:
                    return
                stage = self.policy.choose_stage(self._loads())
                if stage is None:
                    self._wake.wait(timeout=1.0)
                    continue
            self._reap()
            self._admit(stage)
            self._step(stage)

    def _loads(self) -> list[StageLoad]:
        return [
            StageLoad(len(running), tuple(w.cost[index] for w in waiting))
            for index, (running, waiting) in enumerate(zip(self._running, self._waiting, strict=True))
        ]

    def _reap(self) -> None:
        """Drop cancelled and timed-out requests wherever they are; their slots free now."""
        now = time.monotonic()
        for index in range(len(self._running)):
            for group in (self._waiting[index], self._running[index]):
                for work in [w for w in group if w.handle.cancelled or (w.deadline and now > w.deadline)]:
                    group.remove(work)
                    if work.handle.cancelled:
                        self._fail(work, "cancelled", "the request was cancelled")
                    else:
                        limit = self.config.request_timeout_s
                        self._fail(work, "timeout", f"the request did not finish in {limit} s")

    def _admit(self, index: int) -> None:
        memory_in_use = sum(w.cost[w.depth] for running in self._running for w in running)
        count = self.policy.admissions(index, self._loads()[index], memory_in_use)
        joining = [self._waiting[index].popleft() for _ in range(count)]
        if not joining:
            return
        stage = self.cascade.stages[index]
        try:
            conds, unconds = self.cascade.embed(
                stage, [w.handle.request for w in joining], [w.settings for w in joining]
            )
        except Exception:
            logger.exception("text encoding failed")
            for work in joining:
                self._fail(work, "internal", "text encoding failed")
            return
        now = time.monotonic()
        for work, cond, uncond in zip(joining, conds, unconds, strict=True):
            if index == 0:
                self.metrics.observe_queue_wait(now - work.accepted_at)
            work.truncated = work.truncated or cond.truncated
            try:
                work.job = stage.start(work.settings, work.generator, cond, uncond, work.image, tag=work)
            except Exception:
                logger.exception("stage %s failed to start a request", stage.spec.name)
                self._fail(work, "internal", "the model failed on this request")
                continue
            self._running[index].append(work)

    def _step(self, index: int) -> None:
        running = self._running[index]
        if not running:
            return
        stage = self.cascade.stages[index]
        self.metrics.observe_batch_size(stage.spec.name, len(running))
        self._step_splitting_on_oom(index, list(running))
        for work in list(running):
            job = work.job
            steps = len(job.solver.timesteps)
            if work.handle.progress:
                event = StageProgress(stage.spec.name, stage.spec.resolution, job.step_index, steps)
                work.handle._emit(event)
            if job.done:
                running.remove(work)
                self._leave_stage(index, work)

    def _step_splitting_on_oom(self, index: int, works: list[_Work]) -> None:
        """Out of device memory: retry the batch in halves; a request that cannot fit alone fails alone."""
        stage = self.cascade.stages[index]
        try:
            stage.step([w.job for w in works])
        except torch.OutOfMemoryError:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            if len(works) == 1:
                self._running[index].remove(works[0])
                self._fail(works[0], "too_large", f"stage {stage.spec.name} does not fit in device memory")
                return
            self.policy.shrink_batch(index, len(works))
            half = len(works) // 2
            self._step_splitting_on_oom(index, works[:half])
            self._step_splitting_on_oom(index, works[half:])
        except Exception:
            logger.exception("stage %s failed a step", stage.spec.name)
            for work in works:
                self._running[index].remove(work)
                self._fail(work, "internal", "the model failed on this request")

    def _leave_stage(self, index: int, work: _Work) -> None:
        """A request's stage is done: preview it, then queue it for the next stage or complete it.

        Every image that leaves the engine, preview or final, goes through `Cascade.finish_image`
        (output check and watermark), so no path can send an unmarked image out.
        """
        stage = self.cascade.stages[index]
        try:
            work.image = stage.finish(work.job)
            last = work.depth + 1 == len(work.plan)
            preview = self.config.previews and work.handle.progress
            image = self.cascade.finish_image(work.image) if last or preview else None
        except Exception:
            logger.exception("stage %s failed to finish a request", stage.spec.name)
            self._fail(work, "internal", "the model failed on this request")
            return
        work.job = None
        now = time.monotonic()
        self.metrics.observe_stage_latency(stage.spec.name, now - work.entered_stage_at)
        work.depth += 1
        work.entered_stage_at = now
        if preview:
            work.handle._emit(StagePreview(stage.spec.name, stage.spec.resolution, image))
        if last:
            result = GenerationResult(work.handle.request, image, work.truncated)
            result.image.info.update(seed=str(work.handle.request.seed))
            self._finish(work, Completed(result), "completed")
            self.metrics.count_images(1)
        else:
            self._waiting[work.depth].append(work)

    def _fail(self, work: _Work, code: str, message: str) -> None:
        self._finish(work, Failed(message, code), code)

    def _finish(self, work: _Work, event: Completed | Failed, outcome: str) -> None:
        work.handle._emit(event)
        self.metrics.count_request(outcome)
        with self._wake:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()
        self.metrics.observe_queue_depth(self._in_flight)


def row_cost(stage, settings: StageSettings) -> int:
    """Memory proxy of one request in a stage: pixels per forward row, times two rows under guidance."""
    rows = 2 if settings.guidance > 1.0 else 1
    return rows * stage.spec.resolution**2
