"""Inpainting on the base stage: only the mask's white pixels are repainted, as diffusers' IF inpainting
pipeline does it; the rest of the picture is kept exactly, and such a request batches with others."""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest
import torch
from diffusers import IFInpaintingPipeline, IFInpaintingSuperResolutionPipeline

from cascade import Cascade, GenerationRequest
from cascade.data.draw import render
from cascade.data.sampler import sample_scene
from cascade.errors import InvalidRequestError
from cascade.images import tensor_to_pil
from tests.if_reference import as_pixels, if_pipeline_pair, pixel_difference, without_watermark


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


def test_inpainting_at_256px_repaints_the_mask_at_stage_two_too_as_diffusers_does(
    if_geometry_folders, if_cascade, monkeypatch
):
    """IF's inpainting flow: stage I inpaints at 64 px, then stage II inpaints the picture at 256 px
    (its default strength 0.8) conditioned on stage I's image, one generator. Each stage is compared
    given the same input: stage I's raw output differs from diffusers' by up to 0.002 (rounding of
    different kernels), which this random-weight stage II amplifies to 7 levels on 2% of the pixels
    when each side feeds its own; fed ours, diffusers' stage II gives our image to within 1 level."""
    folders, prompt, seed, steps = if_geometry_folders, "a red circle", 0, (8, 8)
    start, mask = picture(256), right_half(256)
    stage_one_pipe, stage_two_pipe, texts = if_pipeline_pair(
        folders, IFInpaintingPipeline, IFInpaintingSuperResolutionPipeline, prompt, seed
    )
    low = stage_one_pipe(
        image=start,
        mask_image=mask,
        num_inference_steps=steps[0],
        guidance_scale=7.0,
        output_type="pt",
        **texts,
    ).images

    ours_low: list[torch.Tensor] = []
    stage_one, finish = if_cascade.stages[0], if_cascade.stages[0].finish
    monkeypatch.setattr(stage_one, "finish", lambda job: ours_low.append(finish(job)) or ours_low[-1])
    ours = if_cascade.generate(
        prompt, seed=seed, size=256, steps=steps, image=start, mask=mask, progress=False
    )[0]
    assert pixel_difference(tensor_to_pil(ours_low[0]), as_pixels(low)).max() <= 1  # stage I
    reference = stage_two_pipe(
        image=ours_low[0],
        original_image=start,
        mask_image=mask,
        num_inference_steps=steps[1],
        noise_level=250,  # our stage II's (IF's) augmentation level; this pipeline alone defaults to 0
        output_type="pt",
        **texts,  # the generator as stage I left it
    ).images
    difference = pixel_difference(ours, as_pixels(reference))
    assert difference.max() <= 1, f"max pixel difference {difference.max()}"
    got, kept = np.asarray(ours).astype(int), np.asarray(start).astype(int)
    assert np.abs(got[:, :128] - kept[:, :128]).max() <= 1  # outside the mask: the 256 px picture itself
    assert np.abs(got[:, 128:] - kept[:, 128:]).mean() > 5  # inside: repainted
    plan = if_cascade.plan(GenerationRequest(prompt, seed=seed, size=256, image=start, mask=mask))
    assert [settings.strength for _, settings in plan] == [1.0, 0.8]


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
