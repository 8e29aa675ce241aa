"""The same render on a Ray cluster: Ray Data maps batches of jobs over actors that each hold one model.

Workers render a batch through their own BatchingEngine (the same path as `render_local`, so the same
bytes) and return PNG bytes; the driver writes every file and every manifest record. One writer keeps
the crash and resume semantics of the local path, and the cluster needs no shared filesystem: only
the model folder, and the input pictures of lines that name any, must exist at the same path on every
node (a worker checks each picture's sha256 against the planned one; a mismatch fails that job only).

Ray Data wants its items before it starts, so this path takes every job (screening every line) before
the first batch goes out, unlike the local path, which screens as it renders (docs/RENDER.md).
"""

from __future__ import annotations

import json
import math
import os
import socket
import threading
from collections.abc import Iterable, Iterator
from dataclasses import replace

import numpy as np

from cascade.errors import InvalidRequestError
from cascade.options import ModelOptions
from cascade.render.local import Rendered, render_local
from cascade.render.plan import ImageJob


class RenderWorker:
    """A Ray Data actor: one model replica; each call renders one batch of jobs (JSON rows)."""

    def __init__(self, options: ModelOptions, batch_size: int) -> None:
        self.cascade = options.load()
        self.batch_size = batch_size
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        jobs, results = [], []
        for row in map(str, batch["job"]):
            try:
                jobs.append(ImageJob.from_row(row))
            except InvalidRequestError as error:  # its input picture changed or vanished: that job only
                results.append(Rendered(json.loads(row)["name"], None, f"invalid_request: {error}"))
        results += render_local(self.cascade, jobs, batch_size=self.batch_size, progress=False)
        return {
            "name": np.array([r.name for r in results], dtype=object),
            "png": np.array([r.png or b"" for r in results], dtype=object),
            "error": np.array([r.error or "" for r in results], dtype=object),
            "worker": np.array([self.name] * len(results), dtype=object),
        }


def render_ray(
    pending: Iterable[ImageJob],
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
    jobs = list(pending)
    if not jobs:
        return
    import ray
    import ray.data

    started = not ray.is_initialized()
    if started:
        ray.init(address=address or None, log_to_driver=False)
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
        batches = math.ceil(len(jobs) / batch_size)  # one block a batch, so every worker gets some
        dataset = ray.data.from_items(
            [{"job": job.to_row()} for job in jobs], override_num_blocks=batches
        ).map_batches(
            RenderWorker,
            fn_constructor_kwargs={"options": worker_options, "batch_size": batch_size},
            batch_size=batch_size,
            concurrency=max(1, min(workers, batches)),
            num_cpus=cpus_per_worker,
            num_gpus=gpus_per_worker,
            batch_format="numpy",
        )
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            for name, png, error, worker in zip(
                batch["name"], batch["png"], batch["error"], batch["worker"], strict=True
            ):
                yield Rendered(str(name), bytes(png) or None, str(error) or None, str(worker))
            if stop.is_set():
                return
    finally:
        if started:
            ray.shutdown()
