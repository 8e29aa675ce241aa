"""`POST /v1/images/generations` with `stream: true`: engine events as OpenAI's image stream.

What the SDK's `client.images.generate(..., stream=True, partial_images=N)` iterates over
(`openai.types.ImageGenStreamEvent`), each `event: <type>` with the same JSON `type` in `data:`:

    image_generation.partial_image  {type, b64_json, partial_image_index, created_at, size, quality,
                                     background, output_format}   an earlier stage's image
    image_generation.completed      {type, b64_json, created_at, size, quality, background,
                                     output_format, usage, seed}   the final PNG; the stream ends
    error                           {type: "error", error: {message, type, param, code}}  then it ends

A partial image is a stage's output before the last stage: a 1024 px request has two (64 and 256 px),
a 256 px one has one, a base-size one none. The first `partial_images` of them are sent, so the
earliest come soonest; a request with fewer stages than that sends what exists, as OpenAI also may.
`size` is the image's own dimensions, so a partial's is smaller than the final's. We keep no quality
or background settings and count no tokens: `quality` is "auto", `background` "opaque" (no alpha),
`output_format` "png", and `usage` is zeros. The SDK raises `openai.APIError` on the `error` event.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from cascade.engine import Completed, EngineRequestFailed, Failed, RequestHandle, StagePreview, StepPreview
from cascade.request import size_text
from server.errors import translate
from server.stream import frame, merged, png_b64

PARTIAL = "image_generation.partial_image"
COMPLETED = "image_generation.completed"
ERROR = "error"
NO_USAGE = {
    "input_tokens": 0,
    "input_tokens_details": {"image_tokens": 0, "text_tokens": 0},
    "output_tokens": 0,
    "total_tokens": 0,
}


def settings(size: tuple[int, int]) -> dict[str, object]:
    """The fields every image event repeats, for an image of `size` (width, height)."""
    return {
        "created_at": int(time.time()),
        "size": size_text(size),
        "quality": "auto",
        "background": "opaque",
        "output_format": "png",
    }


def event(kind: str, data: dict[str, object]) -> bytes:
    return frame(kind, {"type": kind, **data})


async def image_events(handle: RequestHandle, partial_images: int) -> AsyncIterator[bytes]:
    """One accepted request's stream: up to `partial_images` partials, then the image or an error."""
    sent = 0
    async for _, engine_event in merged([handle]):
        if engine_event is None:
            yield b": keep-alive\n\n"
        elif isinstance(engine_event, StagePreview) and not isinstance(engine_event, StepPreview):
            # a partial is an earlier stage's finished image; the page's per-step x0 views are not
            if sent < partial_images and engine_event.resolution < handle.request.short_side:
                b64 = await png_b64(engine_event.image)
                fields = {"b64_json": b64, "partial_image_index": sent, **settings(engine_event.image.size)}
                yield event(PARTIAL, fields)
                sent += 1
        elif isinstance(engine_event, Completed):
            b64 = await png_b64(engine_event.result.image)
            fields = {"b64_json": b64, **settings(engine_event.result.image.size), "usage": NO_USAGE}
            yield event(COMPLETED, {**fields, "seed": handle.request.seed})
            return
        elif isinstance(engine_event, Failed):
            error = translate(EngineRequestFailed(engine_event.code, engine_event.error))
            yield event(ERROR, error.body())
            return
