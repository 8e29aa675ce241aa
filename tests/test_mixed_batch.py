"""Requests of every kind and shape share one running batch, and each gets the bytes it gets alone.

The engine steps each shape as its own sub-batch within one engine step (docs/ENGINE.md), so a 96x64
request never waits for the 64x64 ones to drain. On fixed 2-row forwards (conftest) a request's
arithmetic cannot depend on its batch-mates, so the comparison is exact.
"""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest

from cascade import Cascade, GenerationRequest
from cascade.data.draw import render
from cascade.data.sampler import sample_scene
from cascade.engine import fix_forward_rows
from cascade.errors import InvalidRequestError
from tests.conftest import SERVED_FORWARD_ROWS
from tests.if_reference import without_watermark


def picture(width: int, height: int, seed: int) -> PIL.Image.Image:
    return render(sample_scene(np.random.default_rng(seed)), max(width, height)).resize((width, height))


def left_third(width: int, height: int) -> PIL.Image.Image:
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[:, : width // 3] = 255
    return PIL.Image.fromarray(mask)


@pytest.fixture(scope="module")
def cascade(if_geometry_folders) -> Cascade:
    folders = if_geometry_folders
    cascade = Cascade.from_pretrained(
        folders["stage_I"], stage_II=folders["stage_II"], device="cpu", safeguards=without_watermark()
    )
    fix_forward_rows(cascade.stages, SERVED_FORWARD_ROWS)
    return cascade


def mixed_requests() -> list[GenerationRequest]:
    return [
        GenerationRequest("a red circle", seed=1, size=64, steps=5),
        GenerationRequest("a wide blue field", seed=2, size=(96, 64), steps=4),
        GenerationRequest("a tall tower", seed=3, size=(64, 128), steps=3),
        GenerationRequest("a green star", seed=4, size=64, steps=6, image=picture(80, 60, 1), strength=0.6),
        GenerationRequest(
            "a yellow moon", seed=5, size=(96, 64), steps=5, image=picture(96, 64, 2), mask=left_third(96, 64)
        ),
        GenerationRequest("", seed=6, size=256, steps=3, image=picture(64, 64, 3), upscale=True),
        GenerationRequest("a purple square", seed=7, size=(384, 256), steps=(3, 2)),
    ]


def test_every_kind_and_shape_in_one_running_batch_gets_its_bytes_alone(cascade):
    requests = mixed_requests()
    alone = [cascade.run([request], progress=False)[0].image for request in requests]
    cascade.max_batch_size = 3  # requests join the running batch as others finish, across shapes
    try:
        together = [result.image for result in cascade.run(requests, progress=False)]
    finally:
        cascade.max_batch_size = 8
    assert [image.size for image in together] == [
        (64, 64), (96, 64), (64, 128), (64, 64), (96, 64), (256, 256), (384, 256)
    ]  # fmt: skip
    for request, single, batched in zip(requests, alone, together, strict=True):
        assert np.array_equal(np.asarray(single), np.asarray(batched)), request.prompt
    assert len({np.asarray(image).tobytes() for image in together}) == len(together)


def test_inpainting_a_non_square_picture_keeps_what_the_mask_leaves(cascade):
    image, mask = picture(96, 64, 2), left_third(96, 64)
    result = cascade.generate("a yellow moon", seed=5, size=(96, 64), steps=5, image=image, mask=mask)[0]
    kept = np.asarray(mask) == 0
    difference = np.abs(np.asarray(result).astype(int) - np.asarray(image).astype(int))
    assert difference[kept].max() <= 1
    assert difference[~kept].mean() > 5  # the masked third was repainted


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ((98, 64), "long side must be a multiple of 4 with a 64 px short side"),
        ((392, 256), "multiple of 16 with a 256 px short side"),  # 98 px at stage I
        ((96, 48), "short side of one of [64, 256]"),
        (48, "must be one of ['64x64', '256x256'] for this model"),
        ((320, 64), "at most 4:1"),
        ((64, 0), "positive integer"),
        ((64, 64, 64), "positive integer"),
    ],
)
def test_a_size_the_model_cannot_make_names_the_field_and_the_rule(cascade, size, message):
    with pytest.raises(InvalidRequestError, match="size") as error:
        cascade.plan(GenerationRequest("a red circle", seed=0, size=size))
    assert error.value.field == "size"
    assert message in str(error.value)


def test_a_square_pair_is_the_same_request_as_its_side():
    assert GenerationRequest("a", seed=0, size=(64, 64)) == GenerationRequest("a", seed=0, size=64)
