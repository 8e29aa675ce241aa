"""The HTTP endpoints, on one `APIRouter`: each translates a request for the service and its answer back.

What a handler needs (the service, the server config, the image store, the rate limiter, the metrics)
it takes from `request.app.state`, where `create_app` puts them, through the dependencies below.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable
from typing import Annotated, Literal, TypeVar

import PIL.Image
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from cascade import GenerationRequest
from cascade.errors import shown
from cascade.images import decode_picture
from cascade.planning import upscale_size
from server.config import ServerConfig
from server.errors import APIError
from server.images_store import ImageStore
from server.metrics import PrometheusMetrics
from server.openai_stream import image_events
from server.openapi import GENERATION, MODEL_LOOKUP, TRANSPORT, error_responses
from server.page import render as render_page
from server.page import stage_settings
from server.protocol import (
    GenerationBody,
    ImagesBody,
    ImagesResponse,
    ModelCard,
    ModelList,
    UpscaleBody,
    edit_requests,
    encode_png,
    partials_to_stream,
    to_requests,
)
from server.served_model import ServedModel, size_name, size_names
from server.service import Service, State, collect
from server.stream import EventStream

T = TypeVar("T")
CLIENT_CLOSED = 499  # nginx's code for "the client went away before the answer"


def _service(request: Request) -> Service:
    return request.app.state.service


def _config(request: Request) -> ServerConfig:
    return request.app.state.config


def _store(request: Request) -> ImageStore:
    return request.app.state.store


def _metrics(request: Request) -> PrometheusMetrics:
    return request.app.state.metrics


ServiceDep = Annotated[Service, Depends(_service)]
ConfigDep = Annotated[ServerConfig, Depends(_config)]
StoreDep = Annotated[ImageStore, Depends(_store)]


router = APIRouter()


IMAGE_STREAM = (
    "with `stream: true`, OpenAI's image stream as server-sent events: `image_generation.partial_image`"
    " (up to `partial_images`), then `image_generation.completed`, or `error` (docs/SERVER.md)"
)


@router.post(
    "/v1/images/generations",
    response_model=ImagesResponse,
    response_model_exclude_none=True,
    responses={**GENERATION, 200: {"description": IMAGE_STREAM, "content": {"text/event-stream": {}}}},
)
async def images_generations(
    body: ImagesBody, request: Request, service: ServiceDep, config: ConfigDep, store: StoreDep
):
    arrived_at = arrival(request)
    requests = _requests_for(service, config, body, arrived_at)
    partials = partials_to_stream(body)
    if partials is not None:
        handles = await service.submit(requests, progress=partials > 0, arrived_at=arrived_at)
        return EventStream(handles, image_events(handles[0], partials))
    return await _images(request, service, config, store, requests, body.response_format)


class PictureFields:
    """The form fields that `/v1/images/edits` and `/v1/images/upscales` share besides their pictures
    (a FastAPI dependency: one declaration for both endpoints)."""

    def __init__(
        self,
        n: Annotated[int, Form()] = 1,
        size: Annotated[
            str | None, Form(description="WxH; default: the model's, or for an upscale one stage up")
        ] = None,
        response_format: Annotated[Literal["b64_json", "url"], Form()] = "b64_json",
        seed: Annotated[int | None, Form()] = None,
        steps: Annotated[list[int] | None, Form(description="one value, or one field per stage")] = None,
        guidance: Annotated[list[float] | None, Form(description="one value, or one per stage")] = None,
        negative_prompt: Annotated[str | None, Form()] = None,
        model: Annotated[str | None, Form()] = None,  # accepted for SDK compatibility, as in generations
        user: Annotated[str | None, Form(max_length=256)] = None,
    ):
        self.response_format = response_format
        self._fields = {"n": n, "size": size, "seed": seed, "steps": _one(steps), "guidance": _one(guidance)}
        self._fields |= {"negative_prompt": negative_prompt, "user": user}

    def body(self, kind: type[GenerationBody], prompt: str) -> GenerationBody:
        return kind(prompt=prompt, **self._fields)


def _one(values: list[T] | None) -> T | list[T] | None:
    """A form field given once is that value (every stage's); given per stage, the list."""
    return values[0] if values and len(values) == 1 else values


PictureFieldsDep = Annotated[PictureFields, Depends()]


@router.post(
    "/v1/images/edits",
    response_model=ImagesResponse,
    response_model_exclude_none=True,
    responses=GENERATION,
)
async def images_edits(
    request: Request,
    service: ServiceDep,
    config: ConfigDep,
    store: StoreDep,
    fields: PictureFieldsDep,
    image: Annotated[UploadFile, File(description="the picture to edit: PNG, JPEG or WebP, any shape")],
    prompt: Annotated[str, Form(min_length=1)],
    mask: Annotated[
        UploadFile | None, File(description="the image's size; white (or transparent) = repaint")
    ] = None,
    strength: Annotated[float | None, Form()] = None,
):
    """OpenAI's image edit: img2img from `image`, or inpainting with `mask`, batched with all else."""
    arrived_at = arrival(request)
    body = fields.body(GenerationBody, prompt)
    picture = await run_in_threadpool(decode_picture, await image.read(), "image")
    marked = None if mask is None else await run_in_threadpool(decode_picture, await mask.read(), "mask")
    requests = edit_requests(_requests_for(service, config, body, arrived_at), picture, marked, strength)
    return await _images(request, service, config, store, requests, fields.response_format)


@router.post(
    "/v1/images/upscales",
    response_model=ImagesResponse,
    response_model_exclude_none=True,
    responses=GENERATION,
)
async def images_upscales(
    request: Request,
    service: ServiceDep,
    config: ConfigDep,
    store: StoreDep,
    fields: PictureFieldsDep,
    image: Annotated[UploadFile, File(description="the picture to upscale: PNG, JPEG or WebP, any shape")],
    prompt: Annotated[str, Form(description="what the picture shows; may be empty")] = "",
):
    """Ours: only the super-resolution stages, on the caller's picture (`Cascade.upscale`), batched with
    all else; the answer is the generations one."""
    arrived_at = arrival(request)
    body = fields.body(UpscaleBody, prompt)
    picture = await run_in_threadpool(decode_picture, await image.read(), "image")
    requests = _requests_for(service, config, body, arrived_at, upscale=picture)
    return await _images(request, service, config, store, requests, fields.response_format)


@router.post(
    "/v1/generate",
    responses={
        **GENERATION,
        200: {"description": "server-sent events (docs/SERVER.md)", "content": {"text/event-stream": {}}},
    },
)
async def generate_stream(body: GenerationBody, request: Request, service: ServiceDep, config: ConfigDep):
    arrived_at = arrival(request)
    requests = _requests_for(service, config, body, arrived_at)
    return EventStream(await service.submit(requests, progress=True, arrived_at=arrived_at))


@router.get("/v1/models", response_model=ModelList, responses=error_responses(*TRANSPORT))
async def list_models(service: ServiceDep):
    return {"object": "list", "data": [_served(service).card()]}


@router.get("/v1/models/{model_id:path}", response_model=ModelCard, responses=MODEL_LOOKUP)
async def retrieve_model(model_id: str, service: ServiceDep):
    model = _served(service)
    if model_id != model.id:
        message = f"the model {shown(model_id)} does not exist; this server serves {model.id!r}"
        raise APIError(404, message, param="model", code="model_not_found")
    return model.card()


@router.get(
    "/v1/images/files/{token}.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, **error_responses(404)},
)
async def image_file(token: str, config: ConfigDep, store: StoreDep):
    png = store.get(token)
    if png is None:
        raise APIError(404, "no such image, or its URL has expired", code="not_found")
    headers = {"Cache-Control": f"private, max-age={int(config.url_ttl_s)}"}
    return Response(png, media_type="image/png", headers=headers)


@router.get("/healthz", responses={503: {"description": "the model failed to load"}})
async def healthz(service: ServiceDep):
    alive = service.state is not State.FAILED
    return JSONResponse({"status": "ok" if alive else "failed"}, status_code=200 if alive else 503)


@router.get("/readyz", responses={503: {"description": "loading, draining, failed or unavailable"}})
async def readyz(service: ServiceDep):
    return JSONResponse({"status": service.status}, status_code=200 if service.ready else 503)


@router.get("/metrics", response_class=PlainTextResponse, responses=error_responses(401, 429))
async def prometheus(metrics: Annotated[PrometheusMetrics, Depends(_metrics)]):
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


@router.get("/", response_class=HTMLResponse)
async def index(service: ServiceDep, config: ConfigDep):
    page, headers = render_page(
        {
            "sizes": size_names(service.cascade.sizes) if service.cascade else [],
            "defaultSize": size_name(service.model.default_size) if service.model else None,
            "stages": stage_settings([stage.spec for stage in service.cascade.stages])
            if service.cascade
            else [],
            "keyRequired": config.api_keys is not None,
            "maxPromptChars": config.max_prompt_chars,
            "maxImages": config.max_images,
            "maxSteps": config.max_steps,
        }
    )
    return HTMLResponse(page, headers=headers)


async def _images(
    request: Request,
    service: Service,
    config: ServerConfig,
    store: ImageStore,
    requests: list[GenerationRequest],
    response_format: str,
) -> Response | dict[str, object]:
    """Run `requests` and answer OpenAI's images response: PNGs inline or as URLs, with their seeds."""
    handles = await service.submit(requests, progress=False, arrived_at=arrival(request))
    results = await unless_disconnected(request, collect(handles))
    if results is None:
        return Response(status_code=CLIENT_CLOSED)
    base = (config.public_url or str(request.base_url)).rstrip("/")
    data = []
    for result in results:
        png = await run_in_threadpool(encode_png, result.image)
        item: dict[str, object] = {"seed": result.request.seed}
        if response_format == "url":
            item["url"] = f"{base}/v1/images/files/{store.put(png)}.png"
        else:
            item["b64_json"] = base64.b64encode(png).decode("ascii")
        data.append(item)
    return {"created": int(time.time()), "data": data}


def arrival(request: Request) -> float | None:
    """When the request's head arrived (`server.connections` stamps it), for the drain's cut-off."""
    return getattr(request.state, "arrived_at", None)


def _requests_for(
    service: Service,
    config: ServerConfig,
    body: GenerationBody,
    arrived_at: float | None,
    upscale: PIL.Image.Image | None = None,
) -> list[GenerationRequest]:
    service.require_ready(arrived_at)
    model = _served(service)
    size = model.default_size if upscale is None else upscale_size(model.specs, upscale)
    return to_requests(body, config, default_size=size, upscale=upscale)


def _served(service: Service) -> ServedModel:
    """The loaded model's description; 503 (`loading`, `failed`) while there is none."""
    if service.model is None:
        service.require_ready()
    assert service.model is not None
    return service.model


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
