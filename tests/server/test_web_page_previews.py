"""Per-step previews on `POST /v1/generate`, the web page's live view: the x0 prediction every k steps."""

from __future__ import annotations

import asyncio

import numpy as np
import PIL.Image

from cascade import GenerationRequest
from cascade.engine import BatchingEngine, EngineConfig, StagePreview, StepPreview
from server.config import ServerConfig
from tests.server.live_server import decode_png
from tests.server.test_stream import events


def serve_previewing(serve, every: int):
    return serve(ServerConfig(engine=EngineConfig(preview_every=every)))


def test_a_preview_comes_every_k_steps_of_a_stage_and_at_its_end(serve):
    server = serve_previewing(serve, 2)
    stream = events(server, {"prompt": "a red star", "size": "64x64", "seed": 2, "steps": [5, 4, 1]})
    previews = []
    for position, (name, data) in enumerate(stream):
        if name == "preview":
            before_name, before = stream[position - 1]
            assert before_name == "progress" and before["resolution"] == data["resolution"]
            assert decode_png(data["b64_json"]).size == (data["resolution"],) * 2
            previews.append((data["resolution"], before["step"]))
    assert previews == [(16, 2), (16, 4), (16, 5), (32, 2), (32, 4), (64, 1)]


def test_preview_every_0_previews_only_each_finished_stage(serve):
    stream = events(serve_previewing(serve, 0), {"prompt": "a red star", "size": "32x32", "steps": 4})
    assert [d["resolution"] for n, d in stream if n == "preview"] == [16, 32]


def test_step_previews_do_not_change_the_image(serve):
    body = {"prompt": "a blue ring", "size": "64x64", "seed": 5, "steps": 3}
    with_previews = events(serve_previewing(serve, 1), body)
    without = events(serve_previewing(serve, 0), body)
    assert len([n for n, _ in with_previews if n == "preview"]) == 3 * 3
    assert with_previews[-2][1]["b64_json"] == without[-2][1]["b64_json"]


def test_every_step_preview_goes_through_finish_image(serve, served_cascade, monkeypatch):
    """`finish_image` is the output check and watermark: here it blanks, so every image sent is blank."""
    monkeypatch.setattr(
        served_cascade, "finish_image", lambda pixels: PIL.Image.new("RGB", pixels.shape[-2:])
    )
    stream = events(serve_previewing(serve, 1), {"prompt": "a red star", "size": "32x32", "steps": 3})
    sent = [decode_png(d["b64_json"]) for n, d in stream if n in ("preview", "image")]
    assert len(sent) == 2 * 3 + 1
    assert not any(np.asarray(image).any() for image in sent)


def test_the_engine_tells_a_step_preview_from_a_finished_stage(served_cascade):
    async def scenario():
        engine = BatchingEngine(served_cascade, EngineConfig(preview_every=2))
        engine.start()
        handle = engine.submit(GenerationRequest(prompt="a red star", seed=1, size=32, steps=[4, 3]))
        events = [event async for event in handle.events()]
        await engine.drain()
        return events

    previews = [e for e in asyncio.run(scenario()) if isinstance(e, StagePreview)]
    assert [(p.resolution, getattr(p, "step", None)) for p in previews] == [
        (16, 2),
        (16, None),
        (32, 2),
        (32, None),
    ]
    assert [isinstance(p, StepPreview) for p in previews] == [True, False, True, False]
