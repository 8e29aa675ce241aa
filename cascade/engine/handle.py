"""The caller's side of one request inside the engine: its events, its result, a way to cancel it.

Events reach the caller in order, ending with exactly one `Completed` or `Failed`: through an asyncio
queue when the request came from an event loop (the server), or by `wait()` for threads and the
inline loop (`Cascade.run`, batch rendering).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import PIL.Image

from cascade.request import GenerationRequest, GenerationResult


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
    cause: BaseException | None = field(default=None, compare=False)  # re-raised by `Cascade.run`


Event = Queued | StageProgress | StagePreview | Completed | Failed


class EngineRequestFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class RequestHandle:
    """One request as its caller sees it."""

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
        self.latest_progress: StageProgress | None = None  # the last StageProgress, for callers that poll
        self.on_event: Callable[[Event], None] | None = None  # called on the engine's thread after each event

    def cancel(self) -> None:
        """Stop this request at the next step boundary and free its slot."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    @property
    def final(self) -> Completed | Failed | None:
        """The last event once the request has ended, else None."""
        return self._final

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

    def emit(self, event: Event) -> None:
        """Called by the engine only."""
        if isinstance(event, StageProgress):
            self.latest_progress = event
        if isinstance(event, Completed | Failed):
            self._final = event
            self._finished.set()
        if self.on_event is not None:  # after the state above: a woken caller reads it up to date
            self.on_event(event)
        if self._loop is not None and self._queue is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody is listening any more
                self._loop.call_soon_threadsafe(self._queue.put_nowait, event)
