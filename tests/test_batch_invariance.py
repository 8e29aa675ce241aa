"""A request's image depends only on the request: not on what else shares its batch."""

from __future__ import annotations

import numpy as np
import pytest

from cascade import Cascade, GenerationRequest
from cascade.engine import fix_forward_rows


@pytest.fixture(scope="module")
def cascade(if_folders):
    return Cascade.from_pretrained(if_folders["stage_I"], stage_II=if_folders["stage_II"], device="cpu")


def test_request_alone_equals_request_inside_a_mixed_batch(cascade):
    target = GenerationRequest(
        prompt="a red star above a blue ring", seed=7, size=32, steps=(8, 4), guidance=5.0
    )
    others = [
        GenerationRequest(prompt="two yellow triangles", seed=99, size=32, steps=(5, 3), guidance=(2.0, 1.0)),
        GenerationRequest(prompt="a green heart", seed=3, size=16, steps=11, solver="dpm++2m"),
        GenerationRequest(
            prompt="a purple cross on the left",
            seed=5,
            size=32,
            steps=(6, 2),
            solver="ddim",
            negative_prompt="blue",
        ),
    ]
    alone = cascade.run([target], progress=False)[0].image
    cascade.max_batch_size = 3  # forces jobs to join the running batch as others leave
    batched = cascade.run([others[0], target, *others[1:]], progress=False)
    cascade.max_batch_size = 8
    difference = np.abs(np.asarray(alone).astype(int) - np.asarray(batched[1].image).astype(int))
    assert difference.max() <= 1, f"max pixel difference {difference.max()}"
    assert [r.image.size for r in batched] == [(32, 32), (32, 32), (16, 16), (32, 32)]


def test_same_seed_same_image_and_other_seed_other_image(cascade):
    first, again, other = (
        cascade.generate("a red star", seed=s, size=16, steps=6, progress=False)[0] for s in (11, 11, 12)
    )
    assert np.array_equal(np.asarray(first), np.asarray(again))
    assert not np.array_equal(np.asarray(first), np.asarray(other))


def test_list_of_prompts_uses_consecutive_seeds(if_folders):
    # Fixed 2-row forwards (one request under guidance): batch-mates cannot move a bit, so the
    # comparison is exact by design rather than by luck of the kernels' blocking.
    cascade = Cascade.from_pretrained(if_folders["stage_I"], device="cpu")
    fix_forward_rows(cascade.stages, 2)
    images = cascade.generate(["a red star", "a blue ring"], seed=40, size=16, steps=4, progress=False)
    second_alone = cascade.generate("a blue ring", seed=41, size=16, steps=4, progress=False)[0]
    assert np.array_equal(np.asarray(images[1]), np.asarray(second_alone))
    assert images[1].info["seed"] == "41"
