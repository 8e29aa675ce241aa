"""The FastAPI app of `server/app.py` as a Ray Serve deployment: one engine and one model copy per replica.

Ray's proxy and router (power-of-two-choices on ongoing requests) spread calls across replicas; we add
nothing of our own to routing. Each replica builds the same app as `cascade serve` does, so every endpoint,
limit and API key check is the single-process server's. What this module adds:

- an `x-replica` header on every response, naming the replica that served it;
- a `replica` label on every sample of its /metrics (Ray's proxy sends a scrape to one replica at a time,
  so the label says whose numbers they are);
- URL images in one shared store (a named Ray actor), so `/v1/images/files/...` resolves on whichever
  replica the follow-up reaches. Routing the follow-up to the replica that made the image would need a
  router of our own; the store actor holds PNGs that are already bounded by `url_store_bytes` and TTL;
- in Ray's proxy, `ProxyErrors`: the proxy's own failures (a replica that died under a call) as OpenAI's
  error object instead of plain text.

`max_ongoing_requests` is the engine's queue depth, so Ray routes around a full replica instead of queueing
behind it. Runnable with `cascade serve --ray`, with `serve run server.ray_serve:app_builder` (arguments as
key=value) or from a `serve deploy` YAML (deploy/serve.yaml, docs/SERVER.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ray
from ray import serve
from starlette.middleware import Middleware

if TYPE_CHECKING:  # Ray's proxy imports this module for `ProxyErrors`: it loads no model-side packages
    from server.config import ServerConfig

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
        from server.images_store import ImageStore

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


# The proxy's own failures, as (status, OpenAI code) of the error catalogue (server/errors.py, which this
# module does not import: it would load torch into Ray's proxy).
PROXY_ERRORS = {500: "internal_error", 503: "unavailable"}
PROXY_CALLBACK = ("RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH", "server.ray_serve:proxy_middlewares")
REPLICA_LOST = (
    "the replica serving this call stopped before it answered (Ray is starting another); "
    "retrying is safe: the same seed gives the same image"
)


class ProxyErrors:
    """ASGI middleware for Ray's proxy: its own error answers as OpenAI's error object.

    Every answer of a replica carries `x-replica` and passes untouched. When the replica of a call dies
    before answering, the proxy sends nothing and uvicorn would send a plain-text 500; a 5xx the proxy
    writes itself (no replica available) is plain text too. Both become `{"error": {...}}` here. A stream
    that has started cannot be changed: it is cut, as in one process.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/-/"):  # Ray's /-/healthz, /-/routes
            await self.app(scope, receive, send)
            return
        state = {"started": False, "replaced": False}

        async def send_checked(message) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
                if _from_proxy(message):
                    state["replaced"] = True
                    retry_after = dict(message.get("headers", [])).get(b"retry-after")
                    await self.answer(send, message["status"], retry_after)
                    return
            if not state["replaced"]:
                await send(message)

        try:
            await self.app(scope, receive, send_checked)
        except Exception:
            if state["started"]:
                raise
        if not state["started"]:
            await self.answer(send, 500, None)

    @staticmethod
    async def answer(send, status: int, retry_after: bytes | None) -> None:
        status = status if status in PROXY_ERRORS else 500
        message = REPLICA_LOST if status == 500 else "no replica can take this call now"
        error = {"message": message, "type": "server_error", "param": None, "code": PROXY_ERRORS[status]}
        body = json.dumps({"error": error}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if status == 503:
            headers.append((b"retry-after", retry_after or b"5"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _from_proxy(start: dict) -> bool:
    """A 5xx response start that no replica wrote (a replica's carry `x-replica`)."""
    return start["status"] >= 500 and all(name != b"x-replica" for name, _ in start.get("headers", []))


def proxy_middlewares() -> list[Middleware]:
    """For Ray's `RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH`, the one way into the proxy (Serve
    has no `http_options` middlewares in 2.60): `cascade serve --ray` sets it to this function."""
    return [Middleware(ProxyErrors)]


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
