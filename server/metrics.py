"""Prometheus metrics, named after what an operator asks ("how long did requests wait?").

`PrometheusMetrics` implements the engine's observer methods (`cascade.engine.EngineMetrics`) and the
server's own counters. Each instance has its own registry, so several apps in one process (tests) do
not collide. Gauges that describe the engine's state now (running batch sizes, images per second) are
read at scrape time, so they cannot go stale between steps. In this file a "request" is one image:
a call with n=4 is four engine requests.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60, 120, 300)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)
RATE_WINDOW_S = 60.0


class PrometheusMetrics:
    """The engine's metrics observer plus the HTTP layer's error counter."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.queue_depth = Gauge("cascade_queue_depth", "Requests accepted and not finished", registry=r)
        self.queue_wait = Histogram(
            "cascade_queue_wait_seconds",
            "Time from acceptance to joining stage I's running batch",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.stage_latency = Histogram(
            "cascade_stage_latency_seconds",
            "Time a request spends in a stage, waiting for it included",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.step_batch = Histogram(
            "cascade_step_batch_size",
            "Requests in each U-Net forward",
            ["stage"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.requests = Counter(
            "cascade_requests", "Accepted requests by how they ended", ["outcome"], registry=r
        )
        self.http_errors = Counter(
            "cascade_http_errors", "Error responses by status and error code", ["status", "code"], registry=r
        )
        self.safety = Counter(
            "cascade_safety_rejections", "Prompts refused by the safety filter", ["category"], registry=r
        )
        self.images = Counter("cascade_images", "Images completed", registry=r)
        self._clock = clock
        self._recent: deque[float] = deque()  # completion times within the rate window
        self._lock = threading.Lock()
        Gauge(
            "cascade_images_per_second",
            f"Images completed per second over the last {RATE_WINDOW_S:.0f} s",
            registry=r,
        ).set_function(self.images_per_second)

    def track(self, running_batch_sizes: Callable[[], dict[str, int]]) -> None:
        """Report each stage's running batch size, read from the engine at scrape time."""
        self.registry.register(_RunningBatches(running_batch_sizes))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    # ---- the engine's observer interface -----------------------------------------------------------

    def observe_queue_depth(self, depth: int) -> None:
        self.queue_depth.set(depth)

    def observe_batch_size(self, stage: str, size: int) -> None:
        self.step_batch.labels(stage).observe(size)

    def observe_queue_wait(self, seconds: float) -> None:
        self.queue_wait.observe(seconds)

    def observe_stage_latency(self, stage: str, seconds: float) -> None:
        self.stage_latency.labels(stage).observe(seconds)

    def count_request(self, outcome: str) -> None:
        self.requests.labels(outcome).inc()

    def count_images(self, count: int) -> None:
        self.images.inc(count)
        with self._lock:
            self._recent.extend([self._clock()] * count)

    def count_safety_rejection(self, category: str) -> None:
        self.safety.labels(category).inc()

    # ---- the HTTP layer ----------------------------------------------------------------------------

    def count_error(self, status: int, code: str | None) -> None:
        self.http_errors.labels(str(status), code or "none").inc()

    def images_per_second(self) -> float:
        with self._lock:
            horizon = self._clock() - RATE_WINDOW_S
            while self._recent and self._recent[0] < horizon:
                self._recent.popleft()
            return len(self._recent) / RATE_WINDOW_S


class _RunningBatches(Collector):
    def __init__(self, read: Callable[[], dict[str, int]]) -> None:
        self.read = read

    def collect(self):
        family = GaugeMetricFamily(
            "cascade_running_batch_size", "Requests in each stage's running batch", labels=["stage"]
        )
        for stage, size in self.read().items():
            family.add_metric([stage], size)
        yield family
