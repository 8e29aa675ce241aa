"""`cascade serve`: load a model and serve it over HTTP until SIGTERM, then drain and exit 0.

On SIGTERM or Ctrl-C the service first stops accepting (new calls get 503, /readyz turns 503), then
uvicorn closes its listener and waits for open requests, then the engine finishes what it accepted.
A second Ctrl-C forces an exit.
"""

from __future__ import annotations

import argparse
import logging
import signal
from pathlib import Path

from cascade.engine import EngineConfig
from cascade.errors import require_extra
from cascade.options import add_model_arguments, model_options
from server.auth import KEYS_ENV, KeyStore
from server.config import RateLimit, ServerConfig

DEFAULTS = ServerConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    engine = DEFAULTS.engine
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    add("--port", type=int, default=8000)
    add("--api-keys-file", type=Path, help=f"API keys, one a line, plain or sha256:<hex> (or ${KEYS_ENV})")
    add("--rate-limit", type=float, help="requests per minute per API key (default: no limit)")
    add("--rate-burst", type=int, help="requests a client may make at once (default: a minute's worth)")
    add("--max-queue", type=int, default=engine.max_queue, help="accepted, unfinished images")
    add("--max-batch-size", type=int, default=engine.max_batch_size, help="running images per stage")
    add("--memory-budget", type=int, help="pixels of all running forward rows together (default: none)")
    add("--request-timeout", type=float, default=engine.request_timeout_s, help="seconds per image at most")
    add("--max-images", type=int, default=DEFAULTS.max_images, help="largest n per request")
    add("--max-prompt-chars", type=int, default=DEFAULTS.max_prompt_chars)
    add("--max-steps", type=int, default=DEFAULTS.max_steps, help="per stage")
    add("--max-body-bytes", type=int, default=DEFAULTS.max_body_bytes)
    add("--url-ttl", type=float, default=DEFAULTS.url_ttl_s, help="seconds an image URL works")
    add("--public-url", help="base of image URLs, when clients reach us through a proxy")
    add("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    add_model_arguments(parser, forward_rows=0)


def config_from_args(args: argparse.Namespace) -> ServerConfig:
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
        api_keys=keys,
        rate_limit=rate,
        url_ttl_s=args.url_ttl,
        public_url=args.public_url,
    )


def run(args: argparse.Namespace) -> int:
    """Serve until a shutdown signal (exit 0), or until the model fails to load (exit 1)."""
    require_extra("cascade serve", "server", "fastapi", "uvicorn", "sse_starlette", "prometheus_client")
    import uvicorn

    from server.app import create_app
    from server.no_delay import NoDelayHTTPProtocol
    from server.service import Service, State

    class DrainingServer(uvicorn.Server):
        """uvicorn, told to refuse new work the moment a shutdown signal arrives."""

        def handle_exit(self, sig: int, frame) -> None:
            service.stop_accepting()
            super().handle_exit(sig, frame)

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    options = model_options(args)

    def load_or_stop():
        try:
            return options.load()
        except BaseException:
            server.should_exit = True
            raise

    app = create_app(load_or_stop, config_from_args(args))
    service: Service = app.state.service
    server = DrainingServer(
        uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            lifespan="on",
            http=NoDelayHTTPProtocol,
        )
    )
    # uvicorn re-raises the shutdown signal after its graceful exit, to whatever handler was there
    # before it; make that a no-op so that a drained server exits 0 rather than dying by signal.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    server.run()
    return 1 if service.state is State.FAILED else 0
