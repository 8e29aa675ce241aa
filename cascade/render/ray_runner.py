"""The same render on a Ray cluster: actors that each hold one model render batches the driver cuts.

Workers render a batch through their own BatchingEngine (the same path as `render_local`, so the same
bytes) and return PNG bytes; the driver writes every file and every manifest record. One writer keeps
the crash and resume semantics of the local path, and the cluster needs no shared filesystem: only
the model folder must exist at the same path on every node. The driver cuts a batch from the jobs
only when a worker has room for it (two batches queued per worker, so none waits for its next), and
cutting is what screens their lines: the first batch goes out after its own lines are screened, not
the whole file's.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterable, Iterator
from dataclasses import replace
from itertools import islice
from typing import Any

from cascade.options import ModelOptions
from cascade.render.local import Rendered, render_local
from cascade.render.plan import ImageJob

BATCHES_PER_WORKER = 2


class RenderWorker:
    """A Ray actor: one model replica; each call renders one batch of jobs (JSON rows)."""

    def __init__(self, options: ModelOptions, batch_size: int) -> None:
        self.cascade = options.load()
        self.batch_size = batch_size
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    def render(self, rows: list[str]) -> list[tuple[str, bytes | None, str | None, str]]:
        jobs = [ImageJob.from_row(row) for row in rows]
        results = render_local(self.cascade, jobs, batch_size=self.batch_size)
        return [(r.name, r.png, r.error, self.name) for r in results]


def render_ray(
    jobs: Iterable[ImageJob],
    stop: threading.Event,
    *,
    options: ModelOptions,
    address: str | None = None,
    workers: int | None = None,
    cpus_per_worker: float = 1,
    gpus_per_worker: float | None = None,
    batch_size: int = 8,
) -> Iterator[Rendered]:
    """Render `jobs` on the Ray cluster at `address` (None: the one `ray.init()` finds or starts),
    yielding results as batches finish; when `stop` is set, stops once the batch at hand is yielded.

    Uses the connection when Ray is already initialised (tests start a local instance themselves).
    """
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(address=address or None, log_to_driver=False)
    actors: list[Any] = []
    try:
        resources = ray.cluster_resources()
        if gpus_per_worker is None:
            gpus_per_worker = 1.0 if resources.get("GPU", 0) else 0.0
        if workers is None:
            workers = (
                int(resources["GPU"] // gpus_per_worker)
                if gpus_per_worker
                else int(resources.get("CPU", 1) // cpus_per_worker)
            )
        worker_options = replace(
            options,
            model=options.path,
            device="cuda" if gpus_per_worker else options.device,
            threads=options.threads or max(1, int(cpus_per_worker)),
        )
        actor_class = ray.remote(RenderWorker).options(num_cpus=cpus_per_worker, num_gpus=gpus_per_worker)
        pending = iter(jobs)
        in_flight: dict[Any, Any] = {}  # result ref -> the actor rendering it

        def batch() -> list[str]:
            """The next batch as rows (screening its lines), or none once a stop was asked for."""
            return [] if stop.is_set() else [job.to_row() for job in islice(pending, batch_size)]

        def send(actor: Any, rows: list[str]) -> None:
            if rows:
                in_flight[actor.render.remote(rows)] = actor

        while len(actors) < max(1, workers) and (rows := batch()):  # a worker only for a batch to give it
            actors.append(actor_class.remote(worker_options, batch_size))
            send(actors[-1], rows)
        for actor in actors * (BATCHES_PER_WORKER - 1):
            send(actor, batch())
        while in_flight:
            [ready], _ = ray.wait(list(in_flight), num_returns=1)
            actor = in_flight.pop(ready)
            for name, png, error, worker in ray.get(ready):
                yield Rendered(name, png or None, error, worker)
            if stop.is_set():
                return
            send(actor, batch())
    finally:
        for actor in actors:
            ray.kill(actor)
        if started:
            ray.shutdown()
