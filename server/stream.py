"""`POST /v1/generate` answered as Server-Sent Events: queue position, progress, previews, images.

Events, each `event: <name>` with a JSON `data:` line; `index` says which of the `n` images it is about:

    queued    {index, id, position}                 once per image, on acceptance
    progress  {index, stage, resolution, step, steps} after every denoising step
    preview   {index, stage, resolution, b64_json}   each stage's output as a PNG, as it finishes
    image     {index, seed, b64_json}                the final PNG
    error     {index, error: {message, type, param, code}}  then the stream ends
    done      {created, count}                       after the last image

Comment lines (`: keep-alive`) come every `KEEPALIVE_S` while nothing else does, so proxies keep an
idle stream open and a vanished client is noticed. However the stream ends (finished, failed, or the
client disconnected), every request still in the engine is cancelled and its slot freed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Sequence

from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from cascade.engine import (
    Completed,
    EngineRequestFailed,
    Event,
    Failed,
    Queued,
    RequestHandle,
    StagePreview,
    StageProgress,
)
from server.errors import translate
from server.protocol import encode_png

KEEPALIVE_S = 15.0


def frame(name: str, data: dict) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def png_b64(image) -> str:
    """PNG encoding off the event loop: a 1024 px image takes tens of milliseconds."""
    return base64.b64encode(await run_in_threadpool(encode_png, image)).decode("ascii")


async def merged(handles: Sequence[RequestHandle]) -> AsyncIterator[tuple[int, Event | None]]:
    """Every handle's events as they come, tagged with its index; None marks a quiet `KEEPALIVE_S`."""
    queue: asyncio.Queue[tuple[int, Event]] = asyncio.Queue()

    async def pump(index: int, handle: RequestHandle) -> None:
        async for event in handle.events():
            queue.put_nowait((index, event))

    pumps = [asyncio.ensure_future(pump(i, handle)) for i, handle in enumerate(handles)]
    try:
        open_handles = len(handles)
        while open_handles:
            try:
                index, event = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
            except TimeoutError:
                yield 0, None
                continue
            open_handles -= isinstance(event, Completed | Failed)
            yield index, event
    finally:
        for task in pumps:
            task.cancel()


async def frames(handles: Sequence[RequestHandle]) -> AsyncIterator[bytes]:
    async for index, event in merged(handles):
        if event is None:
            yield b": keep-alive\n\n"
        elif isinstance(event, Queued):
            yield frame("queued", {"index": index, "id": handles[index].id, "position": event.position})
        elif isinstance(event, StageProgress):
            yield frame(
                "progress",
                {
                    "index": index,
                    "stage": event.stage,
                    "resolution": event.resolution,
                    "step": event.step,
                    "steps": event.steps,
                },
            )
        elif isinstance(event, StagePreview):
            b64 = await png_b64(event.image)
            where = {"stage": event.stage, "resolution": event.resolution}
            yield frame("preview", {"index": index, **where, "b64_json": b64})
        elif isinstance(event, Completed):
            b64 = await png_b64(event.result.image)
            yield frame("image", {"index": index, "seed": event.result.request.seed, "b64_json": b64})
        else:
            error = translate(EngineRequestFailed(event.code, event.error))
            yield frame("error", {"index": index, **error.body()})
            return
    yield frame("done", {"created": int(time.time()), "count": len(handles)})


class EventStream(StreamingResponse):
    """The SSE response for accepted `handles`; whatever ends it, their unfinished requests are cancelled.

    `events` is the stream's body: by default `frames(handles)`, this endpoint's events; the OpenAI
    image stream passes its own (`server/openai_stream.py`). (Cancelling here rather than in the
    generator also covers a client gone before the first event, when the generator would never start
    and so never run its cleanup.)
    """

    def __init__(self, handles: Sequence[RequestHandle], events: AsyncIterator[bytes] | None = None) -> None:
        super().__init__(
            frames(handles) if events is None else events,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self.handles = handles

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            for handle in self.handles:
                handle.cancel()
