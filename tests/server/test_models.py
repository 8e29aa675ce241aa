"""`GET /v1/models`: the loaded model in OpenAI's list shape, with its sizes and the default size a
request without `size` gets (the base size on a CPU, the full cascade's on an accelerator)."""

from __future__ import annotations

import threading

import httpx
import openai
import pytest

from server.auth import KeyStore
from server.config import ServerConfig
from server.served_model import default_size
from tests.server.live_server import decode_png


@pytest.fixture()
def server(serve):
    return serve()


def test_the_sdk_lists_the_loaded_model_with_its_sizes_and_default(server):
    models = list(server.client().models.list())
    assert [(m.id, m.object, m.owned_by) for m in models] == [("model", "model", "imagen-cascade")]
    assert models[0].created > 0
    assert models[0].model_extra == {"sizes": ["16x16", "32x32", "64x64"], "default_size": "16x16"}


def test_the_list_is_openais_shape_on_the_wire(server):
    answer = httpx.get(f"{server.url}/v1/models").json()
    assert answer["object"] == "list" and [m["id"] for m in answer["data"]] == ["model"]


def test_the_sdk_retrieves_the_model_by_id(server):
    model = server.client().models.retrieve("model")
    assert model.id == "model" and model.model_extra["default_size"] == "16x16"


@pytest.mark.parametrize("model_id", ["dall-e-3", "org/model"])
def test_an_unknown_model_id_is_a_404_naming_the_model(server, model_id):
    with pytest.raises(openai.NotFoundError) as missing:
        server.client().models.retrieve(model_id)
    error = missing.value
    assert (error.code, error.param, error.type) == ("model_not_found", "model", "invalid_request_error")
    assert repr(model_id) in error.message and "'model'" in error.message


def test_models_need_the_api_key_when_keys_are_configured(serve):
    server = serve(ServerConfig(api_keys=KeyStore.from_entries(["k1"])))
    with pytest.raises(openai.AuthenticationError):
        server.client("wrong").models.list()
    assert [m.id for m in server.client("k1").models.list()] == ["model"]


def test_a_request_without_size_gets_the_cpu_default_the_smallest_size(server):
    data = server.client().images.generate(prompt="a red ring", extra_body={"steps": 1}).data[0]
    assert decode_png(data.b64_json).size == (16, 16)


def test_the_default_size_is_the_base_size_on_cpu_and_the_largest_elsewhere():
    assert default_size((64, 256, 1024), "cpu") == 64
    assert default_size((64, 256, 1024), "cuda") == 1024


def test_models_answer_503_loading_until_the_model_is_in(serve, served_cascade):
    release = threading.Event()

    def slow_load():
        release.wait(60)
        return served_cascade

    server = serve(model=slow_load, wait_ready=False)
    try:
        answer = httpx.get(f"{server.url}/v1/models")
        assert answer.status_code == 503 and answer.json()["error"]["code"] == "loading"
    finally:
        release.set()


def test_the_web_page_starts_at_the_servers_default_size(serve, monkeypatch):
    monkeypatch.setattr("server.served_model.default_size", lambda sizes, device: max(sizes))  # as on CUDA
    server = serve()
    assert server.client().models.retrieve("model").model_extra["default_size"] == "64x64"
    assert '"defaultSize": "64x64"' in httpx.get(f"{server.url}/").text
