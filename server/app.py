"""The FastAPI app: HTTP in, engine requests out, and nothing more.

`create_app(model, config)` takes a loaded `Cascade`, or a function that loads one (then the app
answers /healthz at once and 503 "loading" until the model is in), and mounts the endpoints of
`server/routes.py` (listed in docs/SERVER.md). Order of checks on a generation call: connection
limits (503, 408 for a slow head), body size and time (413, 408), API key (401), rate limit (429),
field types (400), readiness (503), values and limits (400), safety filter (400), queue room (429);
only then does any model work start.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from cascade import Cascade
from server.auth import RateLimiter
from server.body_limit import BodyLimit
from server.config import ServerConfig
from server.draining import DrainMiddleware
from server.errors import install_handlers
from server.gate import Gate
from server.images_store import ImageStore
from server.metrics import PrometheusMetrics
from server.openapi import install_openapi
from server.routes import router
from server.service import Service


def create_app(model: Cascade | Callable[[], Cascade], config: ServerConfig | None = None) -> FastAPI:
    config = config or ServerConfig()
    metrics = PrometheusMetrics()
    service = Service(config.engine, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        loading = None
        if isinstance(model, Cascade):
            service.attach(model)
        else:
            loading = asyncio.create_task(service.load(model))
        try:
            yield
        finally:
            if loading is not None:
                await loading  # a load thread cannot be interrupted; let it end, then stop cleanly
            await service.drain()

    app = FastAPI(title="imagen-cascade", lifespan=lifespan, docs_url=None, redoc_url=None)
    install_openapi(app)
    # What the handlers in server/routes.py take through their dependencies.
    app.state.service = service
    app.state.config = config
    app.state.metrics = metrics
    app.state.store = ImageStore(config.url_ttl_s, config.url_store_bytes)
    rate = config.rate_limit
    app.add_middleware(Gate, config=config, limiter=rate and RateLimiter(rate.per_minute, rate.burst))
    app.add_middleware(
        BodyLimit,
        max_bytes=config.max_body_bytes,
        timeout_s=config.body_timeout_s,
        max_upload_bytes=config.max_upload_bytes,
    )
    install_handlers(app, lambda error: metrics.count_error(error.status, error.code))
    app.add_middleware(DrainMiddleware, service=service)
    app.include_router(router)
    return app
