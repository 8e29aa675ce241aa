"""`POST /v1/images/edits`: OpenAI's image edit through the official SDK, img2img or inpainting with a
mask (white, or transparent as OpenAI marks it), with the same limits and error shape as generations."""

from __future__ import annotations

import io

import httpx
import numpy as np
import PIL.Image
import pytest

from cascade import GenerationRequest
from server.config import ServerConfig
from tests.server.live_server import decode_png

RED = (200, 30, 30)


def png(image: PIL.Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def picture(size: int = 16) -> PIL.Image.Image:
    return PIL.Image.new("RGB", (size, size), RED)


def right_half(size: int = 16, *, transparent: bool = False) -> PIL.Image.Image:
    """A mask for the right half: white on black, or (OpenAI's way) transparent on opaque."""
    if transparent:
        mask = PIL.Image.new("RGBA", (size, size), (0, 0, 0, 255))
        mask.paste((0, 0, 0, 0), (size // 2, 0, size, size))
        return mask
    mask = PIL.Image.new("L", (size, size), 0)
    mask.paste(255, (size // 2, 0, size, size))
    return mask


@pytest.fixture()
def server(serve):
    return serve()


@pytest.mark.parametrize("transparent", [False, True])
def test_sdk_edit_with_a_mask_repaints_only_the_masked_half(server, transparent):
    response = server.client().images.edit(
        image=("in.png", png(picture()), "image/png"),
        mask=("mask.png", png(right_half(transparent=transparent)), "image/png"),
        prompt="a blue ring",
        size="16x16",
        extra_body={"seed": 4, "steps": 3},
    )
    image = np.asarray(decode_png(response.data[0].b64_json).convert("RGB"), dtype=int)
    assert image.shape == (16, 16, 3) and response.data[0].model_extra["seed"] == 4
    assert np.abs(image[:, :8] - np.array(RED)).max() <= 1  # kept
    assert np.abs(image[:, 8:] - np.array(RED)).mean() > 5  # repainted


def test_an_edit_gives_the_bytes_the_python_api_gives(server, served_cascade):
    response = server.client().images.edit(
        image=("in.png", png(picture()), "image/png"),
        prompt="a blue ring",
        size="16x16",
        extra_body={"seed": 5, "steps": 3, "strength": 0.6},
    )
    request = GenerationRequest("a blue ring", seed=5, size=16, steps=3, image=picture(), strength=0.6)
    ours = served_cascade.run([request], progress=False)[0].image
    assert np.array_equal(np.asarray(decode_png(response.data[0].b64_json)), np.asarray(ours))


def test_a_non_square_edit_keeps_its_shape_through_the_sdk(server):
    wide = PIL.Image.new("RGB", (24, 16), RED)
    mask = PIL.Image.new("L", (24, 16), 0)
    mask.paste(255, (12, 0, 24, 16))
    response = server.client().images.edit(
        image=("in.png", png(wide), "image/png"),
        mask=("mask.png", png(mask), "image/png"),
        prompt="a blue ring",
        size="24x16",
        extra_body={"seed": 4, "steps": 3},
    )
    image = np.asarray(decode_png(response.data[0].b64_json).convert("RGB"), dtype=int)
    assert image.shape == (16, 24, 3)
    assert np.abs(image[:, :12] - np.array(RED)).max() <= 1  # kept
    assert np.abs(image[:, 12:] - np.array(RED)).mean() > 5  # repainted


def test_bad_edit_input_is_a_400_naming_the_field(server):
    def post(files: dict, data: dict) -> httpx.Response:
        return httpx.post(f"{server.url}/v1/images/edits", files=files, data=data, timeout=30)

    good = {"image": ("in.png", png(picture()), "image/png")}
    cases = [
        ({"image": ("in.png", b"not an image", "image/png")}, {"prompt": "a ring"}, "image"),
        ({**good, "mask": ("m.png", b"junk", "image/png")}, {"prompt": "a ring"}, "mask"),
        (good, {"prompt": "a ring", "size": "17x17"}, "size"),
        (good, {"prompt": "a ring", "strength": "1.5"}, "strength"),
        (good, {"prompt": ""}, "prompt"),
        ({}, {"prompt": "a ring"}, "image"),
        ({**good, "mask": ("m.png", png(right_half(32)), "image/png")}, {"prompt": "a ring"}, "mask"),
        (good, {"prompt": "a ring", "size": "48x16x2"}, "size"),
    ]
    for files, data, field in cases:
        answer = post(files, data)
        assert answer.status_code == 400, (field, answer.text)
        assert answer.json()["error"]["param"] == field, answer.json()


def test_an_upload_over_the_upload_limit_is_a_413_and_generations_keep_their_own_limit(serve):
    server = serve(ServerConfig(max_upload_bytes=4096))
    big = PIL.Image.effect_noise((64, 64), 100).convert("RGB")
    answer = httpx.post(
        f"{server.url}/v1/images/edits",
        files={"image": ("in.png", png(big), "image/png")},
        data={"prompt": "a ring"},
        timeout=30,
    )
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "request_too_large"
    small = httpx.post(
        f"{server.url}/v1/images/edits",
        files={"image": ("in.png", png(picture()), "image/png")},
        data={"prompt": "a ring", "size": "16x16", "steps": "2"},
        timeout=30,
    )
    assert small.status_code == 200, small.text


def test_per_stage_steps_are_one_form_field_per_stage(server, served_cascade):
    files = {"image": ("in.png", png(picture(32)), "image/png")}
    data = {"prompt": "a blue ring", "size": "32x32", "seed": "2", "steps": ["3", "2"], "strength": "0.6"}
    answer = httpx.post(f"{server.url}/v1/images/edits", files=files, data=data, timeout=60)
    assert answer.status_code == 200, answer.text
    request = GenerationRequest("a blue ring", seed=2, size=32, steps=(3, 2), image=picture(32), strength=0.6)
    ours = served_cascade.run([request], progress=False)[0].image
    assert np.array_equal(np.asarray(decode_png(answer.json()["data"][0]["b64_json"])), np.asarray(ours))


def test_bad_edit_input_through_the_sdk_is_a_bad_request_naming_the_field(server):
    import openai

    client = server.client()
    good = ("in.png", png(picture()), "image/png")
    cases = [
        ({"image": ("in.png", b"not an image", "image/png")}, "image"),
        ({"image": good, "mask": ("m.png", png(right_half(32)), "image/png")}, "mask"),
        ({"image": good, "size": "17x17"}, "size"),
        ({"image": good, "extra_body": {"strength": 1.5}}, "strength"),
    ]
    for fields, param in cases:
        with pytest.raises(openai.BadRequestError) as refusal:
            client.images.edit(prompt="a ring", **fields)
        assert refusal.value.param == param and refusal.value.type == "invalid_request_error"
