"""Every error reaches the SDK in OpenAI's shape, as the exception class the SDK maps its status to."""

from __future__ import annotations

import threading

import httpx
import openai
import pytest
import torch

from cascade.engine import EngineConfig
from cascade.safeguards import Safeguards
from server.auth import KeyStore, hash_key
from server.config import RateLimit, ServerConfig
from tests.server.live_server import wait_until

LIMITS = ServerConfig(max_images=2, max_prompt_chars=40, max_steps=50, max_body_bytes=2048)


@pytest.fixture()
def client(serve):
    return serve(LIMITS).client()


def bad_request(client, **fields) -> openai.BadRequestError:
    body = {"prompt": "a red star", "size": "16x16", **fields}
    extra = {k: body.pop(k) for k in list(body) if k not in ("prompt", "size", "n")}
    with pytest.raises(openai.BadRequestError) as refusal:
        client.images.generate(**body, extra_body={"steps": 1, **extra})
    assert refusal.value.type == "invalid_request_error"
    return refusal.value


@pytest.mark.parametrize(
    ("fields", "param", "says"),
    [
        ({"size": "128x128"}, "size", "['16x16', '32x32', '64x64']"),
        ({"size": "1024x1024"}, "size", "for this model"),
        ({"size": "96x48"}, "size", "short side of one of [16, 32, 64]"),
        ({"size": "100x64"}, "size", "long side must be a multiple of 8"),
        ({"size": "288x64"}, "size", "at most 4:1"),
        ({"size": "64x"}, "size", "N or WxH"),
        ({"n": 3}, "n", "from 1 to 2"),
        ({"n": 0}, "n", "from 1 to 2"),
        ({"prompt": "a" * 41}, "prompt", "at most 40 characters"),
        ({"prompt": "   "}, "prompt", "empty"),
        ({"negative_prompt": "b" * 41}, "negative_prompt", "at most 40 characters"),
        ({"steps": 51}, "steps", "at most 50"),
        ({"steps": [1, 2]}, "steps", "one per stage"),
        ({"steps": 0}, "steps", "from 1"),
        ({"guidance": -1.0}, "guidance", "from 0"),
        ({"seed": -5}, "seed", "[0, 2**63)"),
        ({"n": "2"}, "n", "valid integer"),
        ({"response_format": "jpeg"}, "response_format", "b64_json"),
    ],
)
def test_invalid_field_is_a_400_naming_the_field(client, fields, param, says):
    refusal = bad_request(client, **fields)
    assert refusal.param == param and says in refusal.message


def test_unknown_field_is_refused_rather_than_ignored(client):
    refusal = bad_request(client, seeds=3)
    assert (refusal.param, refusal.code) == ("seeds", "unknown_parameter")


def test_body_that_is_not_json_is_a_400(serve):
    server = serve(LIMITS)
    answer = httpx.post(
        f"{server.url}/v1/images/generations", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_json"


def test_refused_prompt_is_content_policy_violation_naming_the_category_not_the_words(client):
    refusal = bad_request(client, prompt="a gory decapitation")
    assert (refusal.code, refusal.param) == ("content_policy_violation", "prompt")
    assert "violence" in refusal.message and "decapitation" not in refusal.message


def test_refused_prompt_runs_no_model_work(serve):
    server = serve(LIMITS)
    bad_request(server.client(), prompt="a gory decapitation")
    assert server.metric("cascade_queue_wait_seconds_count") == 0
    assert server.metric("cascade_safety_rejections_total", category="violence") == 1


def test_body_over_the_limit_is_a_413(client):
    with pytest.raises(openai.APIStatusError) as refusal:
        client.images.generate(prompt="a red star", size="16x16", extra_body={"padding": "x" * 4096})
    assert refusal.value.status_code == 413 and refusal.value.code == "request_too_large"


def test_chunked_body_over_the_limit_is_a_413_too(serve):
    server = serve(LIMITS)

    def chunks():
        for _ in range(10):
            yield b" " * 1024

    answer = httpx.post(
        f"{server.url}/v1/generate", content=chunks(), headers={"content-type": "application/json"}
    )
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "request_too_large"


@pytest.fixture()
def keyed(serve, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text(f"# clients\nplain-key-1\n{hash_key('hashed-key-2')}\n")
    return serve(ServerConfig(api_keys=KeyStore.from_file(keys)))


@pytest.mark.parametrize("key", ["wrong-key", "plain-key-"])
def test_wrong_api_key_is_an_authentication_error(keyed, key):
    with pytest.raises(openai.AuthenticationError) as refusal:
        keyed.client(key).images.generate(prompt="a red star", size="16x16", extra_body={"steps": 1})
    assert refusal.value.code == "invalid_api_key"


def test_missing_api_key_is_a_401(keyed):
    answer = httpx.post(f"{keyed.url}/v1/images/generations", json={"prompt": "a red star"})
    assert answer.status_code == 401 and "Authorization: Bearer" in answer.json()["error"]["message"]


@pytest.mark.parametrize("key", ["plain-key-1", "hashed-key-2"])
def test_listed_keys_plain_or_hashed_are_accepted(keyed, key):
    data = keyed.client(key).images.generate(prompt="a red star", size="16x16", extra_body={"steps": 1}).data
    assert len(data) == 1


def test_per_key_rate_limit_is_a_429_with_retry_after(serve, tmp_path):
    config = ServerConfig(
        api_keys=KeyStore.from_entries(["a", "b"]), rate_limit=RateLimit(per_minute=1, burst=2)
    )
    server = serve(config)
    first = server.client("a")
    for _ in range(2):
        first.images.generate(prompt="a red star", size="16x16", extra_body={"steps": 1})
    with pytest.raises(openai.RateLimitError) as refusal:
        first.images.generate(prompt="a red star", size="16x16", extra_body={"steps": 1})
    assert refusal.value.code == "rate_limit_exceeded"
    assert 1 <= int(refusal.value.response.headers["retry-after"]) <= 60
    assert server.client("b").images.generate(prompt="a red star", size="16x16", extra_body={"steps": 1}).data


def test_full_queue_is_a_429_with_retry_after_and_nothing_is_half_accepted(serve):
    server = serve(ServerConfig(engine=EngineConfig(max_queue=2), max_images=2))
    client = server.client()
    with httpx.stream(
        "POST", f"{server.url}/v1/generate", json={"prompt": "a red star", "size": "16x16", "steps": 250}
    ) as stream:
        lines = stream.iter_lines()  # held: a dropped iterator closes the connection (a disconnect)
        assert next(lines) == "event: queued"  # one of the two places is taken
        with pytest.raises(openai.RateLimitError) as refusal:
            client.images.generate(prompt="a blue ring", n=2, size="16x16", extra_body={"steps": 1})
        assert refusal.value.code == "queue_full" and int(refusal.value.response.headers["retry-after"]) >= 1
        assert server.metric("cascade_queue_depth") == 1  # the stream's image only, none of the two
        assert server.metric("cascade_requests_total", outcome="cancelled") is None
        assert client.images.generate(prompt="a blue ring", size="16x16", extra_body={"steps": 1}).data


def test_while_loading_the_service_is_a_503_and_then_serves(serve, served_cascade):
    loaded = threading.Event()

    def slow_load():
        loaded.wait()
        return served_cascade

    server = serve(model=slow_load, wait_ready=False)
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    assert httpx.get(f"{server.url}/readyz").json() == {"status": "loading"}
    with pytest.raises(openai.InternalServerError) as refusal:
        server.client().images.generate(prompt="a red star", size="16x16")
    assert refusal.value.status_code == 503 and refusal.value.code == "loading"
    loaded.set()
    wait_until(lambda: httpx.get(f"{server.url}/readyz").status_code == 200, what="the model to load")
    assert server.client().images.generate(prompt="a red star", size="16x16", extra_body={"steps": 1}).data


@pytest.mark.parametrize("failure", ["load", "attach"])
def test_a_model_that_fails_to_load_or_start_is_logged_and_stops_the_server(serve, failure, caplog):
    def broken_load():
        if failure == "load":
            raise OSError("no such model folder")
        return object()  # loads, but is no cascade: the engine cannot start on it

    server = serve(model=broken_load, wait_ready=False)
    wait_until(lambda: not server.thread.is_alive(), what="the server to stop")
    assert server.service.status == "failed"
    assert "the model failed to load" in caplog.text


def test_while_draining_new_calls_are_a_503(serve):
    server = serve()
    server.service.stop_accepting()
    assert httpx.get(f"{server.url}/readyz").json() == {"status": "draining"}
    with pytest.raises(openai.InternalServerError) as refusal:
        server.client().images.generate(prompt="a red star", size="16x16")
    assert refusal.value.status_code == 503 and refusal.value.code == "draining"


def test_unexpected_failure_is_an_openai_shaped_500_without_a_traceback(serve, served_cascade, monkeypatch):
    def crashing_filter(prompt):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(served_cascade, "safeguards", Safeguards(prompt_filter=crashing_filter))
    server = serve()
    answer = httpx.post(f"{server.url}/v1/images/generations", json={"prompt": "a red star", "size": "16x16"})
    assert answer.status_code == 500
    error = answer.json()["error"]
    assert error["type"] == "server_error" and error["code"] == "internal_error"
    assert "secret" not in answer.text and "Traceback" not in answer.text


def test_request_too_large_for_the_device_alone_is_a_400_about_size(serve, served_cascade, monkeypatch):
    def never_fits(jobs):
        raise torch.OutOfMemoryError("simulated")

    monkeypatch.setattr(served_cascade.stages[1], "step", never_fits)
    client = serve().client()
    with pytest.raises(openai.BadRequestError) as refusal:
        client.images.generate(prompt="a red star", size="32x32", extra_body={"steps": 1})
    assert (refusal.value.code, refusal.value.param) == ("image_too_large", "size")
    assert client.images.generate(prompt="a red star", size="16x16", extra_body={"steps": 1}).data


def test_request_past_its_deadline_is_a_504_not_retried(serve):
    client = serve(ServerConfig(engine=EngineConfig(request_timeout_s=0.0))).client()
    with pytest.raises(openai.InternalServerError) as refusal:
        client.images.generate(prompt="a red star", size="16x16", extra_body={"steps": 1})
    assert refusal.value.status_code == 504 and refusal.value.code == "timeout"
    assert refusal.value.response.headers["x-should-retry"] == "false"


def test_unknown_path_is_a_404_in_openai_shape(serve):
    answer = httpx.get(f"{serve(LIMITS).url}/v1/nothing")
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
