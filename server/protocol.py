"""The wire format: OpenAI's Images API request in, `GenerationRequest`s out, PNGs back.

`ImagesBody` is what `client.images.generate(...)` sends (our extras arrive through `extra_body`);
`GenerationBody` is the same request without the response options, for `/v1/generate`'s own stream;
`UpscaleBody` the fields of our `/v1/images/upscales`.
Unknown fields are refused rather than ignored, so a misspelt extra (`"seeds"`) is an error, not a
silently random image. `to_requests` applies the server's limits and expands `n` into one request per
image, image i with seed + i, as `Cascade.generate` does; `partials_to_stream` checks OpenAI's
`stream` and `partial_images`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import PIL.Image
import PIL.ImageOps
from pydantic import BaseModel, ConfigDict, Field

from cascade import GenerationRequest, InvalidRequestError
from cascade.images import encode_png as png_bytes
from cascade.request import image_seeds, parse_size
from server.config import ServerConfig

MAX_PARTIAL_IMAGES = 3  # OpenAI's limit


class GenerationBody(BaseModel):
    """One prompt, `n` images. Types are strict: `"2"` is not a number."""

    model_config = ConfigDict(extra="forbid", strict=True)

    prompt: str = Field(min_length=1)
    n: int = 1
    size: str | None = None  # "WxH" with a short side the model makes (docs/SERVER.md); default
    # `ServedModel.default_size`
    seed: int | None = None  # default: random, reported back per image
    steps: int | list[int] | None = None  # one value, or one per stage that runs
    guidance: float | list[float] | None = None
    negative_prompt: str | None = None
    user: str | None = Field(default=None, max_length=256)  # the caller's end user, for our logs


class UpscaleBody(GenerationBody):
    """`POST /v1/images/upscales`: the prompt describes the picture and may be empty."""

    prompt: str = ""


class ImagesBody(GenerationBody):
    """`POST /v1/images/generations`."""

    response_format: Literal["b64_json", "url"] = "b64_json"
    model: str | None = None  # accepted for SDK compatibility; a server serves one model
    stream: bool = Field(
        default=False, description="answer as OpenAI's image stream (text/event-stream); n = 1 only"
    )
    partial_images: int | None = Field(
        default=None,
        description="0 to 3, with stream: true only: earlier stages' images streamed before the final one",
    )


class ImageData(BaseModel):
    """One image: inline or by URL, and the seed that remakes it."""

    b64_json: str | None = None
    url: str | None = None
    seed: int


class ImagesResponse(BaseModel):
    created: int
    data: list[ImageData]


class ModelCard(BaseModel):
    """OpenAI's model object, and what this model makes: `size` values, and the one a request without
    `size` gets."""

    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    sizes: list[str]
    default_size: str


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ModelCard]


def to_requests(
    body: GenerationBody,
    config: ServerConfig,
    *,
    default_size: int | tuple[int, int],
    upscale: PIL.Image.Image | None = None,
) -> list[GenerationRequest]:
    """The engine requests for `body` under the server's limits; an InvalidRequestError names the field.
    A body without `size` gets `default_size`; whether the model makes a size is the engine's check
    (`cascade.planning`), as for every other setting. With `upscale`, each request upscales that
    picture through the super-resolution stages."""
    if not 1 <= body.n <= config.max_images:
        raise InvalidRequestError("n", f"must be from 1 to {config.max_images}, got {body.n}")
    for name in ("prompt", "negative_prompt"):
        text = getattr(body, name)
        if text is not None and len(text) > config.max_prompt_chars:
            raise InvalidRequestError(
                name, f"must be at most {config.max_prompt_chars} characters, got {len(text)}"
            )
    steps = body.steps if isinstance(body.steps, list) else [body.steps]
    if any(s is not None and s > config.max_steps for s in steps):
        raise InvalidRequestError("steps", f"must be at most {config.max_steps} per stage on this server")
    size = default_size if body.size is None else parse_size(body.size)
    return [
        GenerationRequest(
            prompt=body.prompt,
            seed=seed,
            size=size,
            negative_prompt=body.negative_prompt,
            steps=body.steps,
            guidance=body.guidance,
            image=upscale,
            upscale=upscale is not None,
        )
        for seed in image_seeds(body.seed, body.n)
    ]


def edit_requests(
    requests: list[GenerationRequest],
    image: PIL.Image.Image,
    mask: PIL.Image.Image | None,
    strength: float | None,
) -> list[GenerationRequest]:
    """`/v1/images/edits`: the text requests of its fields, each starting from the picture (img2img), or
    repainting the mask's white pixels (inpainting). OpenAI's masks mark the area to edit by alpha 0;
    ours by white, so an RGBA mask's transparent pixels are what gets repainted."""
    if mask is not None and mask.mode in ("RGBA", "LA", "PA"):
        mask = PIL.ImageOps.invert(mask.getchannel("A"))
    return [replace(request, image=image, mask=mask, strength=strength) for request in requests]


def partials_to_stream(body: ImagesBody) -> int | None:
    """How many partial images a streamed answer carries, or None when the answer is plain JSON.

    A stream is one image: OpenAI's stream events carry no image index, so `n` > 1 cannot be told
    apart there (`/v1/generate` streams several). Streamed images are inline, never URLs.
    """
    partials = body.partial_images
    if partials is not None and not 0 <= partials <= MAX_PARTIAL_IMAGES:
        raise InvalidRequestError("partial_images", f"must be from 0 to {MAX_PARTIAL_IMAGES}, got {partials}")
    if not body.stream:
        if partials is not None:
            raise InvalidRequestError("partial_images", "is only taken with stream: true")
        return None
    if body.n != 1:
        message = f"must be 1 with stream: true (use POST /v1/generate to stream several), got {body.n}"
        raise InvalidRequestError("n", message)
    if body.response_format != "b64_json":
        raise InvalidRequestError("response_format", "must be b64_json with stream: true")
    return partials or 0


def encode_png(image: PIL.Image.Image) -> bytes:
    """The PNG a client gets: the image's seed (and watermark note) as text; same pixels, same bytes."""
    return png_bytes(image, {key: image.info[key] for key in ("seed", "watermark") if key in image.info})
