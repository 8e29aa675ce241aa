"""`POST /v1/images/upscales` (ours): a caller's picture through the super-resolution stages only, with
the answer and errors of the generations endpoint; the official SDK reaches it with its generic post."""

from __future__ import annotations

import io

import httpx
import numpy as np
import openai
import PIL.Image
import pytest
from openai.types import ImagesResponse

from cascade import GenerationRequest
from cascade.data.draw import render
from cascade.data.sampler import sample_scene
from tests.server.live_server import decode_png


def png(image: PIL.Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def picture(width: int, height: int, seed: int = 2) -> PIL.Image.Image:
    return render(sample_scene(np.random.default_rng(seed)), max(width, height)).resize((width, height))


def sdk_upscale(client: openai.OpenAI, image: PIL.Image.Image, **fields) -> ImagesResponse:
    """The SDK's own multipart post, as `client.images.edit` makes it."""
    return client.post(
        "/images/upscales",
        body=fields,
        files=[("image", ("in.png", png(image), "image/png"))],
        options={"headers": {"Content-Type": "multipart/form-data"}},
        cast_to=ImagesResponse,
    )


@pytest.fixture()
def server(serve):
    return serve()


def test_an_sdk_upscale_gives_the_bytes_the_python_api_gives(server, served_cascade):
    low = picture(16, 16)
    response = sdk_upscale(server.client(), low, prompt="a red star", size="64x64", seed=3, steps=2)
    request = GenerationRequest("a red star", seed=3, size=64, steps=2, image=low, upscale=True)
    ours = served_cascade.run([request], progress=False)[0].image
    assert np.array_equal(np.asarray(decode_png(response.data[0].b64_json)), np.asarray(ours))


def test_without_prompt_or_size_a_picture_goes_one_stage_up_in_its_aspect_ratio(server):
    response = sdk_upscale(server.client(), picture(24, 16), seed=1, steps=2)
    assert decode_png(response.data[0].b64_json).size == (48, 32)


def test_bad_upscale_input_is_a_400_naming_the_field(server):
    def post(files: dict, data: dict) -> httpx.Response:
        return httpx.post(f"{server.url}/v1/images/upscales", files=files, data=data, timeout=30)

    good = {"image": ("in.png", png(picture(16, 16)), "image/png")}
    cases = [
        ({"image": ("in.png", b"not an image", "image/png")}, {}, "image"),
        ({}, {"prompt": "a ring"}, "image"),
        (good, {"size": "16x16"}, "size"),  # the base stage's size: nothing to upscale to
        (good, {"size": "50x32"}, "size"),
        (good, {"steps": "[1, 2, 3]"}, "steps"),
        (good, {"n": "9"}, "n"),
    ]
    for files, data, field in cases:
        answer = post(files, data)
        assert answer.status_code == 400, (field, answer.text)
        assert answer.json()["error"]["param"] == field, answer.json()
