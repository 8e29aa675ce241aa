"""The official `openai` SDK, unchanged but for base_url, generates images through our server."""

from __future__ import annotations

import base64

import httpx
import numpy as np
import openai
import pytest

from tests.server.live_server import decode_png


@pytest.fixture()
def server(serve):
    return serve()


def test_sdk_round_trip_returns_a_png_of_the_requested_size_and_seed(server):
    response = server.client().images.generate(
        prompt="a red star above a blue ring", size="32x32", extra_body={"seed": 7, "steps": 2}
    )
    assert response.created > 0 and len(response.data) == 1
    image = decode_png(response.data[0].b64_json)
    assert image.size == (32, 32) and image.format == "PNG"
    assert image.text["seed"] == "7" and response.data[0].model_extra["seed"] == 7


def test_image_i_of_n_uses_seed_plus_i(server):
    client = server.client()
    pair = client.images.generate(
        prompt="a green heart", n=2, size="16x16", extra_body={"seed": 10, "steps": 2}
    )
    second = client.images.generate(prompt="a green heart", size="16x16", extra_body={"seed": 11, "steps": 2})
    assert [item.model_extra["seed"] for item in pair.data] == [10, 11]
    assert pair.data[1].b64_json == second.data[0].b64_json
    assert pair.data[0].b64_json != pair.data[1].b64_json


def test_without_a_seed_each_image_reports_the_random_seed_that_reproduces_it(server):
    client = server.client()
    first = client.images.generate(prompt="a blue ring", size="16x16", extra_body={"steps": 2}).data[0]
    again = client.images.generate(
        prompt="a blue ring", size="16x16", extra_body={"steps": 2, "seed": first.model_extra["seed"]}
    ).data[0]
    assert again.b64_json == first.b64_json


def test_url_response_serves_the_same_png_from_the_short_lived_store(server):
    client = server.client()
    settings = dict(prompt="a purple cross", size="64x64", extra_body={"seed": 3, "steps": 2})
    by_url = client.images.generate(response_format="url", **settings).data[0]
    inline = client.images.generate(response_format="b64_json", **settings).data[0]
    assert by_url.b64_json is None and by_url.url.startswith(f"{server.url}/v1/images/files/")
    fetched = httpx.get(by_url.url)
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/png"
    assert fetched.content == base64.b64decode(inline.b64_json)


def test_unknown_image_url_is_a_404_in_openai_shape(server):
    answer = httpx.get(f"{server.url}/v1/images/files/not-a-token.png")
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"


def test_extra_body_settings_steer_the_image(server):
    client = server.client()

    def pixels(**extra):
        body = {"seed": 4, "steps": 2, **extra}
        data = client.images.generate(prompt="a yellow square", size="16x16", extra_body=body).data[0]
        return np.asarray(decode_png(data.b64_json))

    plain = pixels()
    assert np.array_equal(pixels(), plain)
    assert not np.array_equal(pixels(negative_prompt="red"), plain)
    assert not np.array_equal(pixels(guidance=1.0), plain)
    assert not np.array_equal(pixels(steps=3), plain)


def test_model_field_is_accepted_and_ignored(server):
    data = (
        server.client()
        .images.generate(prompt="a red ring", model="dall-e-2", size="16x16", extra_body={"steps": 1})
        .data[0]
    )
    assert decode_png(data.b64_json).size == (16, 16)


def test_async_sdk_works_too(server):
    import asyncio

    async def call():
        # Closed inside the loop: left to the garbage collector, its close runs on a dead loop and the
        # logged traceback re-enters ast.parse mid-parse (CPython 3.11.7 then raises SystemError).
        async with openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0) as client:
            return await client.images.generate(prompt="a red star", size="16x16", extra_body={"steps": 1})

    assert decode_png(asyncio.run(call()).data[0].b64_json).size == (16, 16)
