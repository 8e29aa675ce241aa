"""The FastAPI app of `server/app.py` as a Ray Serve deployment: one engine and one model copy per replica.

Ray's proxy and router (power-of-two-choices on ongoing requests) spread calls across replicas; we add
nothing of our own to routing. Each replica builds the same app as `cascade serve` does, so every endpoint,
limit and API key check is the single-process server's. What a replica adds:

- an `x-replica` header on every response, naming the replica that served it;
- a `replica` label on every sample of its /metrics (Ray's proxy sends a scrape to one replica at a time,
  so the label says whose numbers they are);
- URL images in one shared store (a named Ray actor), so `/v1/images/files/...` resolves on whichever
  replica the follow-up reaches. Routing the follow-up to the replica that made the image would need a
  router of our own; the store actor holds PNGs that are already bounded by `url_store_bytes` and TTL.

`max_ongoing_requests` is the engine's queue depth, so Ray routes around a full replica instead of queueing
behind it. Runnable with `cascade serve --ray`, with `serve run server.ray_serve:app_builder` (arguments as
key=value) or from a `serve deploy` YAML (deploy/serve.yaml, docs/SERVER.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ray
from ray import serve

from server.config import ServerConfig
from server.images_store import ImageStore

STORE_ACTOR = "cascade-image-store"
APP_NAME = "cascade"
_SAMPLE = re.compile(rb"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?( .*)$")


@dataclass(frozen=True)
class Scaling:
    """How many replicas, and what each holds: fixed `replicas`, or autoscaling when `max_replicas` is set."""

    replicas: int = 1
    gpus_per_replica: float = 0.0
    min_replicas: int | None = None
    max_replicas: int | None = None
    target_ongoing_requests: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def deployment_options(self, max_queue: int) -> dict[str, Any]:
        options: dict[str, Any] = {
            "max_ongoing_requests": max_queue,
            "ray_actor_options": {"num_gpus": self.gpus_per_replica, "num_cpus": 0},
            **self.extra,
        }
        if self.max_replicas is None:
            options["num_replicas"] = self.replicas
        else:
            autoscaling: dict[str, Any] = {
                "min_replicas": self.min_replicas if self.min_replicas is not None else 1,
                "max_replicas": self.max_replicas,
            }
            if self.target_ongoing_requests is not None:
                autoscaling["target_ongoing_requests"] = self.target_ongoing_requests
            options["autoscaling_config"] = autoscaling
        return options


@ray.remote(num_cpus=0)
class _StoreActor:
    """The one `ImageStore` of the application, shared by its replicas."""

    def __init__(self, ttl_s: float, max_bytes: int) -> None:
        self.store = ImageStore(ttl_s, max_bytes)

    def put(self, png: bytes) -> str:
        return self.store.put(png)

    def get(self, token: str) -> bytes | None:
        return self.store.get(token)


class SharedImageStore:
    """`ImageStore`'s put/get, answered by the application's store actor (created by the first replica)."""

    def __init__(self, config: ServerConfig) -> None:
        self.actor = _StoreActor.options(
            name=STORE_ACTOR, namespace=APP_NAME, get_if_exists=True, lifetime="detached"
        ).remote(config.url_ttl_s, config.url_store_bytes)

    def put(self, png: bytes) -> str:
        return ray.get(self.actor.put.remote(png))

    def get(self, token: str) -> bytes | None:
        return ray.get(self.actor.get.remote(token))


def labelled(exposition: bytes, replica: str) -> bytes:
    """Prometheus text with `replica="..."` added to every sample line."""
    out = []
    for line in exposition.splitlines():
        match = _SAMPLE.match(line) if not line.startswith(b"#") else None
        if match:
            name, labels, rest = match.groups()
            inner = labels[1:-1] + b"," if labels and labels != b"{}" else b""
            line = name + b"{" + inner + b'replica="' + replica.encode() + b'"}' + rest
        out.append(line)
    return b"\n".join(out) + b"\n"


class _ReplicaHeader:
    """ASGI middleware: `x-replica` on every HTTP response."""

    def __init__(self, app: Any, replica: str) -> None:
        self.app = app
        self.replica = replica.encode()

    async def __call__(self, scope, receive, send) -> None:
        async def send_tagged(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"x-replica", self.replica)]}
            await send(message)

        await self.app(scope, receive, send_tagged if scope["type"] == "http" else send)


@serve.deployment(name="CascadeReplica", health_check_period_s=2, graceful_shutdown_timeout_s=120)
@serve.ingress()
class CascadeReplica:
    """One replica: the model that `load()` returns (ModelOptions.load), behind `create_app(load, config)`."""

    def __init__(self, load: Callable[[], Any], config: ServerConfig) -> None:
        self.load = load
        self.config = config
        self.replica = serve.get_replica_context().replica_id.unique_id

    def __serve_build_asgi_app__(self):
        from server.app import create_app

        app = create_app(self.load, self.config)
        app.state.store = SharedImageStore(self.config)
        metrics = app.state.metrics
        plain = metrics.exposition
        metrics.exposition = lambda: labelled(plain(), self.replica)
        app.add_middleware(_ReplicaHeader, replica=self.replica)
        return app


def application(load: Callable[[], Any], config: ServerConfig, scaling: Scaling):
    """The bound Serve application, ready for `serve.run`; `load` is pickled to every replica."""
    deployment = CascadeReplica.options(**scaling.deployment_options(config.engine.max_queue))
    return deployment.bind(load, config)


def app_builder(args: dict[str, str]):
    """For `serve run server.ray_serve:app_builder model=DIR replicas=2` and `serve deploy` YAML `args`:
    every `cascade serve` option, spelt with underscores (max_queue=32)."""
    import argparse

    from server.cli import add_arguments, config_from_args, scaling_from_args

    parser = argparse.ArgumentParser(prog="server.ray_serve:app_builder")
    add_arguments(parser)
    argv = []
    for key, value in args.items():
        flag = "--" + key.replace("_", "-")
        argv += [flag] if value is True or value == "true" else [flag, str(value)]
    parsed = parser.parse_args(argv)
    from cascade.options import model_options

    return application(model_options(parsed).load, config_from_args(parsed), scaling_from_args(parsed))
