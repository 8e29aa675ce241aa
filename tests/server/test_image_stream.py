"""`POST /v1/images/generations` with `stream: true`: the official SDK's image stream iterator works
unchanged, fed by the engine's per-stage previews (16 and 32 px before a 64 px image here)."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai.types import ImageGenCompletedEvent, ImageGenPartialImageEvent

from cascade.engine import EngineConfig
from server.config import ServerConfig
from tests.server.live_server import decode_png, wait_until

SETTINGS = {"seed": 5, "steps": 2}


@pytest.fixture()
def server(serve):
    return serve()


def streamed(server, size: str = "64x64", **fields) -> list:
    stream = server.client().images.generate(
        model="model", prompt="a red star", size=size, stream=True, extra_body=SETTINGS, **fields
    )
    return list(stream)


def test_partial_images_are_earlier_stages_then_the_completed_image_equals_the_plain_answer(server):
    events = streamed(server, partial_images=2)
    assert [type(e) for e in events] == [ImageGenPartialImageEvent] * 2 + [ImageGenCompletedEvent]
    partials, completed = events[:2], events[2]
    assert [(e.type, e.partial_image_index, e.size) for e in partials] == [
        ("image_generation.partial_image", 0, "16x16"),
        ("image_generation.partial_image", 1, "32x32"),
    ]
    assert [decode_png(e.b64_json).size for e in partials] == [(16, 16), (32, 32)]
    assert completed.type == "image_generation.completed" and completed.size == "64x64"
    assert (completed.output_format, completed.quality, completed.background) == ("png", "auto", "opaque")
    assert completed.usage.total_tokens == 0 and completed.created_at > 0
    assert completed.model_extra["seed"] == SETTINGS["seed"]
    plain = server.client().images.generate(prompt="a red star", size="64x64", extra_body=SETTINGS)
    assert completed.b64_json == plain.data[0].b64_json


def test_asking_more_partials_than_stages_sends_the_ones_that_exist(server):
    events = streamed(server, partial_images=3)
    assert [getattr(e, "partial_image_index", e.type) for e in events] == [0, 1, "image_generation.completed"]


def test_fewer_partials_than_stages_sends_the_earliest(server):
    events = streamed(server, partial_images=1)
    assert [(e.type, e.size) for e in events] == [
        ("image_generation.partial_image", "16x16"),
        ("image_generation.completed", "64x64"),
    ]


@pytest.mark.parametrize("fields", [{}, {"partial_images": 0}])
def test_without_partials_the_stream_is_the_completed_image_alone(server, fields):
    events = streamed(server, **fields)
    assert [e.type for e in events] == ["image_generation.completed"]
    assert decode_png(events[0].b64_json).size == (64, 64)


def test_the_stream_is_openais_event_framing(server):
    body = {"prompt": "a red star", "size": "32x32", "stream": True, "partial_images": 1, **SETTINGS}
    with httpx.stream("POST", f"{server.url}/v1/images/generations", json=body, timeout=60) as answer:
        assert answer.headers["content-type"].startswith("text/event-stream")
        blocks = [b for b in answer.read().decode().split("\n\n") if b and not b.startswith(":")]
    names = [block.splitlines()[0] for block in blocks]
    assert names == ["event: image_generation.partial_image", "event: image_generation.completed"]
    for name, block in zip(names, blocks, strict=True):
        assert f'"type":"{name.removeprefix("event: ")}"' in block


@pytest.mark.parametrize(
    ("fields", "param", "says"),
    [
        ({"stream": True, "partial_images": 4}, "partial_images", "from 0 to 3, got 4"),
        ({"stream": True, "partial_images": -1}, "partial_images", "from 0 to 3, got -1"),
        ({"partial_images": 1}, "partial_images", "only taken with stream: true"),
        ({"stream": False, "partial_images": 0}, "partial_images", "only taken with stream: true"),
        ({"stream": True, "n": 2}, "n", "must be 1 with stream: true"),
        ({"stream": True, "response_format": "url"}, "response_format", "b64_json with stream: true"),
    ],
)
def test_stream_options_that_cannot_work_are_a_400_naming_the_field(server, fields, param, says):
    body = {"prompt": "a red star", "size": "16x16", "steps": 1, **fields}
    answer = httpx.post(f"{server.url}/v1/images/generations", json=body, timeout=60)
    assert answer.status_code == 400 and answer.headers["content-type"] == "application/json"
    error = answer.json()["error"]
    assert (error["code"], error["param"], error["type"]) == ("invalid_value", param, "invalid_request_error")
    assert says in error["message"]


def test_a_refused_prompt_is_a_plain_400_before_any_stream(server):
    with pytest.raises(openai.BadRequestError) as refusal:
        server.client().images.generate(prompt="a gory decapitation", stream=True, partial_images=1)
    assert (refusal.value.code, refusal.value.param) == ("content_policy_violation", "prompt")


def test_a_failure_after_acceptance_is_an_error_event_the_sdk_raises(serve):
    server = serve(ServerConfig(engine=EngineConfig(request_timeout_s=0.0)))
    body = {"prompt": "a red star", "size": "16x16", "steps": 1, "stream": True}
    with httpx.stream("POST", f"{server.url}/v1/images/generations", json=body, timeout=60) as answer:
        text = answer.read().decode()
    assert text.startswith("event: error\ndata: ")
    assert '"type":"error","error":{' in text and '"code":"timeout"' in text
    stream = server.client().images.generate(prompt="a red star", size="16x16", stream=True)
    with pytest.raises(openai.APIError) as failure:
        list(stream)
    assert failure.value.code == "timeout" and "did not finish" in failure.value.message


def test_leaving_a_stream_early_cancels_its_image(serve):
    server = serve(ServerConfig(engine=EngineConfig(max_queue=1), max_images=1))
    stream = server.client().images.generate(
        prompt="a red star", size="64x64", stream=True, partial_images=1, extra_body={"steps": [1, 250, 1]}
    )
    assert next(iter(stream)).type == "image_generation.partial_image"
    stream.close()
    wait_until(lambda: server.metric("cascade_requests_total", outcome="cancelled") == 1, what="cancellation")
    assert server.metric("cascade_queue_depth") == 0


def test_openapi_documents_the_stream_and_its_fields(server):
    schema = httpx.get(f"{server.url}/openapi.json").json()
    answer = schema["paths"]["/v1/images/generations"]["post"]["responses"]["200"]
    assert {"application/json", "text/event-stream"} <= set(answer["content"])
    assert "image_generation.partial_image" in answer["description"]
    fields = schema["components"]["schemas"]["ImagesBody"]["properties"]
    assert {"stream", "partial_images"} <= set(fields)
    assert {"/v1/models", "/v1/models/{model_id}"} <= set(schema["paths"])


def test_partials_are_finished_stage_images_not_the_per_step_previews(server):
    steps = {"seed": 5, "steps": 12}  # past preview_every (10): the engine also sends step previews
    stream = server.client().images.generate(
        prompt="a red star", size="32x32", stream=True, partial_images=1, extra_body=steps
    )
    partial = next(e for e in stream if e.type == "image_generation.partial_image")
    stage_one = server.client().images.generate(prompt="a red star", size="16x16", extra_body=steps)
    assert decode_png(partial.b64_json).tobytes() == decode_png(stage_one.data[0].b64_json).tobytes()
