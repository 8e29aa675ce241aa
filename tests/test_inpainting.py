"""Inpainting on the base stage: only the mask's white pixels are repainted, as diffusers' IF inpainting
pipeline does it; the rest of the picture is kept exactly, and such a request batches with others."""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest
import torch
from diffusers import IFInpaintingPipeline

from cascade import Cascade, GenerationRequest
from cascade.data.draw import render
from cascade.data.sampler import sample_scene
from cascade.errors import InvalidRequestError
from tests.if_reference import as_pixels, pixel_difference, without_watermark


def picture(size: int = 96, seed: int = 3) -> PIL.Image.Image:
    return render(sample_scene(np.random.default_rng(seed)), size)


def right_half(size: int = 96) -> PIL.Image.Image:
    mask = np.zeros((size, size), dtype=np.uint8)
    mask[:, size // 2 :] = 255
    return PIL.Image.fromarray(mask)


@pytest.fixture(scope="module")
def stage_one(if_geometry_folders):
    return Cascade.from_pretrained(
        if_geometry_folders["stage_I"], device="cpu", safeguards=without_watermark()
    )


def test_stage_one_inpainting_matches_diffusers_within_one_level(if_geometry_folders, stage_one):
    prompt, seed, steps, start, mask = "a red circle", 0, 10, picture(), right_half()
    pipe = IFInpaintingPipeline.from_pretrained(if_geometry_folders["stage_I"])
    pipe.set_progress_bar_config(disable=True)
    embeds, negative = pipe.encode_prompt(prompt)
    reference = pipe(
        image=start,
        mask_image=mask,
        prompt_embeds=embeds,
        negative_prompt_embeds=negative,
        num_inference_steps=steps,
        guidance_scale=7.0,  # stage I's default in our plan; IF's inpainting pipeline defaults to 7 too
        generator=torch.Generator("cpu").manual_seed(seed),
        output_type="pt",
    ).images
    ours = stage_one.generate(prompt, seed=seed, steps=steps, image=start, mask=mask, progress=False)[0]
    difference = pixel_difference(ours, as_pixels(reference))
    assert difference.max() <= 1, f"max pixel difference {difference.max()}"
    kept = np.asarray(start.resize((64, 64), PIL.Image.Resampling.BICUBIC, reducing_gap=None)).astype(int)
    got = np.asarray(ours).astype(int)
    assert np.abs(got[:, :32] - kept[:, :32]).max() <= 1  # outside the mask: the picture itself
    assert np.abs(got[:, 32:] - kept[:, 32:]).mean() > 5  # inside: repainted


def test_inpainting_in_a_batch_gives_each_request_its_image_alone(stage_one):
    inpaint = GenerationRequest("a red circle", seed=1, steps=6, image=picture(), mask=right_half())
    others = [
        GenerationRequest("a blue square", seed=2, steps=6),
        GenerationRequest("a green ring", seed=3, steps=6, image=picture(seed=4), strength=0.6),
    ]
    alone = stage_one.run([inpaint], progress=False)[0].image
    batched = stage_one.run([others[0], inpaint, others[1]], progress=False)[1].image
    assert np.abs(np.asarray(alone).astype(int) - np.asarray(batched).astype(int)).max() <= 1


def test_a_mask_needs_an_image_and_no_upscale():
    with pytest.raises(InvalidRequestError) as error:
        GenerationRequest("a red circle", seed=0, mask=right_half())
    assert error.value.field == "mask"
    with pytest.raises(InvalidRequestError) as error:
        GenerationRequest("", seed=0, size=256, image=picture(), mask=right_half(), upscale=True)
    assert error.value.field == "mask"
    with pytest.raises(InvalidRequestError) as error:
        GenerationRequest("a red circle", seed=0, image=picture(), mask="mask.png")
    assert error.value.field == "mask"
    with pytest.raises(InvalidRequestError, match="must be the image's size, 96x96, got 64x64") as error:
        GenerationRequest("a red circle", seed=0, image=picture(), mask=right_half(64))
    assert error.value.field == "mask"
