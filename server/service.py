"""The service's life: loading the model, serving through the engine, draining for shutdown.

The HTTP layer asks this object whether it may take work (`require_ready`) and hands it requests
(`submit`); it owns the one `BatchingEngine`. Submission runs on a thread of its own because it
screens prompts (the safety filter's sentence encoder) and must not stall the event loop meanwhile;
one thread, not a pool, so the filter's torch calls keep one set of CPU threads rather than one per
pool thread competing with the U-Nets.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from enum import Enum
from functools import partial

from cascade import Cascade, GenerationRequest, GenerationResult
from cascade.engine import BatchingEngine, EngineConfig, RequestHandle
from server.errors import RETRY_SOON, SERVER, APIError
from server.metrics import PrometheusMetrics
from server.served_model import ServedModel

logger = logging.getLogger(__name__)


class State(Enum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"  # the model could not be loaded; see the log
    DRAINING = "draining"


_UNAVAILABLE = {
    State.LOADING: "the model is still loading; retry shortly",
    State.FAILED: "the model failed to load; see the server log",
    State.DRAINING: "the server is shutting down",
}


class Service:
    """One model behind one engine, and the state the health endpoints report."""

    def __init__(self, engine_config: EngineConfig, metrics: PrometheusMetrics) -> None:
        self.engine_config = engine_config
        self.metrics = metrics
        self.state = State.LOADING
        self.cascade: Cascade | None = None
        self.model: ServedModel | None = None  # what /v1/models says about `cascade`
        self.engine: BatchingEngine | None = None
        self.drain_started: float | None = None
        self._submitter = ThreadPoolExecutor(1, thread_name_prefix="cascade-submit")

    def attach(self, cascade: Cascade) -> None:
        """Start serving `cascade`."""
        self.cascade = cascade
        self.engine = BatchingEngine(cascade, self.engine_config, self.metrics)
        self.metrics.track(self.engine.running_batch_sizes)
        self.engine.start()
        self.model = ServedModel.of(cascade)
        if self.state is State.LOADING:
            self.state = State.READY

    async def load(self, loader: Callable[[], Cascade]) -> None:
        """Load on a worker thread, so /healthz answers while weights are read; a load or start that
        fails is logged and turns the state to FAILED (the server process then exits). The "ready" line
        is `DrainingServer`'s, which knows the address."""
        try:
            self.attach(await asyncio.to_thread(loader))
        except Exception as error:
            logger.error(
                "not serving: the model failed to load (%s: %s); exiting with status 1",
                type(error).__name__,
                error,
                exc_info=error,
            )
            self.state = State.FAILED

    @property
    def ready(self) -> bool:
        return self.state is State.READY and self.engine is not None and self.engine.ready

    @property
    def status(self) -> str:
        """What /readyz says: "ready", "loading", "draining", "failed", or "unavailable" (engine down)."""
        if self.ready:
            return "ready"
        return self.state.value if self.state in _UNAVAILABLE else "unavailable"

    @property
    def idle(self) -> bool:
        """Nothing accepted is unfinished (true before the model is in, too)."""
        return self.engine is None or self.engine.queue_depth == 0

    def accepts(self, arrived_at: float | None) -> bool:
        """Whether a request that arrived at `arrived_at` (monotonic) may submit work: any while ready;
        while draining, one whose head arrived before the drain began, so no call in flight at
        SIGTERM is turned away."""
        if self.engine is None or not self.engine.ready:
            return False
        if self.state is State.READY:
            return True
        started = self.drain_started
        return self.state is State.DRAINING and None not in (arrived_at, started) and arrived_at < started

    def require_ready(self, arrived_at: float | None = None) -> None:
        if not self.accepts(arrived_at):
            reason = _UNAVAILABLE.get(self.state, "the engine is not running")
            raise APIError(503, reason, type=SERVER, code=self.status, headers=RETRY_SOON)

    async def submit(
        self, requests: Sequence[GenerationRequest], *, progress: bool, arrived_at: float | None = None
    ) -> list[RequestHandle]:
        """All of `requests` accepted by the engine, or an exception and none of them."""
        self.require_ready(arrived_at)
        assert self.engine is not None
        loop = asyncio.get_running_loop()
        submit = partial(self.engine.submit_many, list(requests), loop=loop, progress=progress)
        return await loop.run_in_executor(self._submitter, submit)

    def stop_accepting(self) -> None:
        """Shutdown has begun: refuse work from calls that arrive from now on (503 `draining`); calls
        already in flight still submit theirs, and the engine stops taking work when `drain` runs."""
        if self.state in (State.LOADING, State.READY):
            self.state = State.DRAINING
            self.drain_started = time.monotonic()

    async def drain(self) -> None:
        """Finish every accepted request, then stop the engine."""
        self.stop_accepting()
        if self.engine is not None:
            await self.engine.drain()
        self._submitter.shutdown()


async def collect(handles: Sequence[RequestHandle]) -> list[GenerationResult]:
    """Every handle's result; if one fails or the caller goes away, the others are cancelled too."""
    try:
        return list(await asyncio.gather(*(handle.result() for handle in handles)))
    finally:
        for handle in handles:
            handle.cancel()
