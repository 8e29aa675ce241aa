"""The FastAPI app: HTTP in, engine requests out, and nothing more.

`create_app(model, config)` takes a loaded `Cascade`, or a function that loads one (then the app
answers /healthz at once and 503 "loading" until the model is in). Endpoints are listed in
docs/SERVER.md. Order of checks on a generation call: body size (413), API key (401), rate limit
(429), field types (400), readiness (503), values and limits (400), safety filter (400), queue room
(429); only then does any model work start.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from cascade import Cascade
from server.auth import RateLimiter, retry_after_header
from server.body_limit import BodyLimit
from server.config import ServerConfig
from server.errors import APIError, install_handlers
from server.images_store import ImageStore
from server.metrics import PrometheusMetrics
from server.page import render as render_page
from server.protocol import GenerationBody, ImagesBody, encode_png, size_names, to_requests
from server.service import Service, State, collect
from server.stream import EventStream

T = TypeVar("T")
CLIENT_CLOSED = 499  # nginx's code for "the client went away before the answer"


def create_app(model: Cascade | Callable[[], Cascade], config: ServerConfig | None = None) -> FastAPI:
    config = config or ServerConfig()
    metrics = PrometheusMetrics()
    service = Service(config.engine, metrics)
    store = ImageStore(config.url_ttl_s, config.url_store_bytes)
    limiter = config.rate_limit and RateLimiter(config.rate_limit.per_minute, config.rate_limit.burst)

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
    app.state.service = service
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    install_handlers(app, lambda error: metrics.count_error(error.status, error.code))

    async def caller(request: Request) -> str:
        """Who is calling, for rate limits: the API key's id, or the address when keys are off."""
        if config.api_keys is None:
            caller = f"addr:{request.client.host if request.client else 'unknown'}"
        else:
            scheme, _, key = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not key.strip():
                message = "missing API key: send 'Authorization: Bearer <key>'"
                raise APIError(401, message, code="invalid_api_key")
            caller = config.api_keys.identify(key.strip())
            if caller is None:
                raise APIError(401, "incorrect API key", code="invalid_api_key")
        wait = limiter.take(caller) if limiter else 0.0
        if wait:
            raise APIError(
                429,
                "rate limit reached; retry later",
                type="rate_limit_error",
                code="rate_limit_exceeded",
                headers={"Retry-After": retry_after_header(wait)},
            )
        return caller

    def requests_for(body: GenerationBody):
        service.require_ready()
        assert service.cascade is not None
        return to_requests(body, service.cascade.sizes, config)

    @app.post("/v1/images/generations", dependencies=[Depends(caller)])
    async def images_generations(body: ImagesBody, request: Request):
        handles = await service.submit(requests_for(body), progress=False)
        results = await unless_disconnected(request, collect(handles))
        if results is None:
            return Response(status_code=CLIENT_CLOSED)
        base = (config.public_url or str(request.base_url)).rstrip("/")
        data = []
        for result in results:
            png = await run_in_threadpool(encode_png, result.image)
            item: dict[str, object] = {"seed": result.request.seed}
            if body.response_format == "url":
                item["url"] = f"{base}/v1/images/files/{store.put(png)}.png"
            else:
                item["b64_json"] = base64.b64encode(png).decode("ascii")
            data.append(item)
        return {"created": int(time.time()), "data": data}

    @app.post("/v1/generate", dependencies=[Depends(caller)])
    async def generate_stream(body: GenerationBody):
        return EventStream(await service.submit(requests_for(body), progress=True))

    @app.get("/v1/images/files/{token}.png")
    async def image_file(token: str):
        png = store.get(token)
        if png is None:
            raise APIError(404, "no such image, or its URL has expired", code="not_found")
        headers = {"Cache-Control": f"private, max-age={int(config.url_ttl_s)}"}
        return Response(png, media_type="image/png", headers=headers)

    @app.get("/healthz")
    async def healthz():
        alive = service.state is not State.FAILED
        return JSONResponse({"status": "ok" if alive else "failed"}, status_code=200 if alive else 503)

    @app.get("/readyz")
    async def readyz():
        return JSONResponse(
            {"status": service.status},
            status_code=200 if service.ready else 503,
        )

    @app.get("/metrics")
    async def prometheus():
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse)
    async def index():
        page, headers = render_page(
            {
                "sizes": size_names(service.cascade.sizes) if service.cascade else [],
                "keyRequired": config.api_keys is not None,
                "maxPromptChars": config.max_prompt_chars,
            }
        )
        return HTMLResponse(page, headers=headers)

    return app


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T | None:
    """`work`'s result, or None (with `work` cancelled) if the client disconnects first."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
        return task.result() if task.done() else None
    finally:
        gone.cancel()
        task.cancel()


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass
