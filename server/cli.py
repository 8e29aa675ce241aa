"""`cascade serve`: load a model and serve it over HTTP until SIGTERM, then drain and exit 0.

Options are checked and the port is bound before the model loads. On SIGTERM or Ctrl-C the service
drains as `server/http_server.py` describes (503 `draining` with `Connection: close` while accepted work
finishes), then exits 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

from cascade.engine import EngineConfig
from cascade.errors import require_extra
from cascade.options import add_model_arguments, at_least, model_options, non_negative_number, positive_number
from server.auth import KEYS_ENV, KeyStore
from server.config import RateLimit, ServerConfig

DEFAULTS = ServerConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    engine = DEFAULTS.engine
    count, seconds = at_least(1), positive_number
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    add("--port", type=at_least(0), default=8000)
    add("--api-keys-file", type=Path, help=f"API keys, one a line, plain or sha256:<hex> (or ${KEYS_ENV})")
    add("--rate-limit", type=seconds, help="requests per minute per API key (default: no limit)")
    add("--rate-burst", type=count, help="requests a client may make at once (default: a minute's worth)")
    add("--max-queue", type=count, default=engine.max_queue, help="accepted, unfinished images")
    add("--max-batch-size", type=count, default=engine.max_batch_size, help="running images per stage")
    add("--memory-budget", type=count, help="pixels of all running forward rows together (default: none)")
    add("--request-timeout", type=seconds, default=engine.request_timeout_s, help="seconds per image at most")
    add("--max-images", type=count, default=DEFAULTS.max_images, help="largest n per request")
    add("--max-prompt-chars", type=count, default=DEFAULTS.max_prompt_chars)
    add("--max-steps", type=count, default=DEFAULTS.max_steps, help="per stage")
    add("--max-body-bytes", type=count, default=DEFAULTS.max_body_bytes)
    add(
        "--max-upload-bytes",
        type=count,
        default=DEFAULTS.max_upload_bytes,
        help="body of a /v1/images/edits call: image, mask and fields together (default 8 MiB)",
    )
    add("--url-ttl", type=seconds, default=DEFAULTS.url_ttl_s, help="seconds an image URL works")
    add("--public-url", help="base of image URLs, when clients reach us through a proxy")
    add("--metrics-need-key", action="store_true", help="/metrics and /openapi.json need an API key too")
    add(
        "--header-timeout", type=seconds, default=DEFAULTS.header_timeout_s, help="seconds for a request head"
    )
    add("--body-timeout", type=seconds, default=DEFAULTS.body_timeout_s, help="seconds for a request body")
    add("--keep-alive", type=seconds, default=DEFAULTS.keep_alive_s, help="seconds an idle connection stays")
    add("--max-connections", type=count, default=DEFAULTS.max_connections, help="open connections at most")
    add(
        "--forwarded-allow-ips",
        metavar="IPS",
        help="proxies (comma-separated, or '*') whose X-Forwarded-For names the client (default: none)",
    )
    add("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    add_model_arguments(parser, forward_rows=0)
    ray = parser.add_argument_group("Ray Serve (the [ray] extra; docs/SERVER.md, multi-node)")
    ray.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="serve on Ray Serve: join the cluster at ADDRESS, or without one start a loopback Ray instance",
    )
    ray.add_argument("--replicas", type=count, default=1, help="replicas, each with its own model copy")
    gpus = non_negative_number
    ray.add_argument("--gpus-per-replica", type=gpus, default=0.0, help="GPUs each replica holds")
    ray.add_argument("--min-replicas", type=at_least(0), help="autoscaling floor (with --max-replicas)")
    ray.add_argument("--max-replicas", type=count, help="autoscale between --min-replicas and this")
    ray.add_argument("--target-ongoing-requests", type=seconds, help="autoscaling: ongoing calls per replica")


def scaling_from_args(args: argparse.Namespace):
    """The replica layout of `--ray` (server/ray_serve.py's Scaling)."""
    from server.ray_serve import Scaling

    return Scaling(
        replicas=args.replicas,
        gpus_per_replica=args.gpus_per_replica,
        min_replicas=args.min_replicas,
        max_replicas=args.max_replicas,
        target_ongoing_requests=args.target_ongoing_requests,
    )


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """The server's config; a ValueError names what is inconsistent (e.g. --max-images > --max-queue)."""
    keys = KeyStore.from_file(args.api_keys_file) if args.api_keys_file else KeyStore.from_env()
    rate = None
    if args.rate_limit:
        rate = RateLimit(args.rate_limit, args.rate_burst or max(1, round(args.rate_limit)))
    engine = EngineConfig(
        max_queue=args.max_queue,
        max_batch_size=args.max_batch_size,
        memory_budget=args.memory_budget,
        request_timeout_s=args.request_timeout,
    )
    return ServerConfig(
        engine=engine,
        max_images=args.max_images,
        max_prompt_chars=args.max_prompt_chars,
        max_steps=args.max_steps,
        max_body_bytes=args.max_body_bytes,
        max_upload_bytes=args.max_upload_bytes,
        api_keys=keys,
        rate_limit=rate,
        url_ttl_s=args.url_ttl,
        public_url=args.public_url,
        metrics_need_key=args.metrics_need_key,
        header_timeout_s=args.header_timeout,
        body_timeout_s=args.body_timeout,
        keep_alive_s=args.keep_alive,
        max_connections=args.max_connections,
        forwarded_allow_ips=args.forwarded_allow_ips,
    )


def run(args: argparse.Namespace) -> int:
    """Serve until a shutdown signal (exit 0) or a failed model load (exit 1); options that cannot work
    and a port that cannot be bound are one line on stderr and exit 2, before anything loads."""
    require_extra("cascade serve", "server", "fastapi", "uvicorn", "sse_starlette", "prometheus_client")
    if args.ray is not None:
        return run_on_ray(args)
    from server.app import create_app
    from server.http_server import ListenError, build_server, listen
    from server.service import State

    try:
        config = config_from_args(args)
        options = model_options(args)
        sock = listen(args.host, args.port)
    except (ValueError, OSError, ListenError) as error:
        print(f"cascade serve: error: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = create_app(options.load, config)
    server = build_server(app, args.log_level)
    # uvicorn re-raises the shutdown signal after its graceful exit, to whatever handler was there
    # before it; make that a no-op so that a drained server exits 0 rather than dying by signal.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    server.run(sockets=[sock])
    return 1 if app.state.service.state is State.FAILED else 0


def run_on_ray(args: argparse.Namespace) -> int:
    """`--ray`: deploy the app on Ray Serve at --host/--port; on SIGTERM or Ctrl-C shut Serve down, which
    stops each replica gracefully (its accepted calls finish, as the single server drains), then exit 0."""
    require_extra("cascade serve --ray", "ray", "ray.serve")
    import threading

    import ray
    from ray import serve

    from server.ray_serve import APP_NAME, PROXY_CALLBACK, application

    try:
        config = config_from_args(args)
        options = model_options(args)
        scaling = scaling_from_args(args)
    except ValueError as error:
        print(f"cascade serve: error: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.ray:
        ray.init(address=args.ray)  # the cluster's proxies have the environment of `ray start`
    else:
        os.environ.setdefault(*PROXY_CALLBACK)  # inherited by the proxy of the instance started here
        ray.init(_node_ip_address="127.0.0.1", include_dashboard=False)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    serve.start(http_options={"host": args.host, "port": args.port})
    serve.run(application(options.load, config, scaling), name=APP_NAME, route_prefix="/", blocking=False)
    print(
        f"cascade serve: serving on http://{args.host}:{args.port} ({scaling.replicas} replicas)", flush=True
    )
    stop.wait()
    # The application first, while the proxy still forwards: each replica finishes its ongoing calls
    # (streams included) before it stops. Shutting Serve down at once would stop the proxy and cut them.
    serve.delete(APP_NAME)
    serve.shutdown()
    ray.shutdown()
    return 0
