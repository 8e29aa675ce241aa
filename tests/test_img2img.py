"""img2img on the base stage: a request's own image, noised to `strength` of the schedule, as diffusers'
IF img2img pipeline does it; batched with text-to-image requests without changing either."""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest
import torch
from diffusers import IFImg2ImgPipeline, IFImg2ImgSuperResolutionPipeline

from cascade import Cascade, GenerationRequest
from cascade.data.draw import render
from cascade.data.sampler import sample_scene
from cascade.errors import InvalidRequestError
from cascade.evaluation.adherence import eval_suite, score
from cascade.options import SHIPPED_MODEL
from cascade.request import IMG2IMG_STRENGTH, MAX_IMAGE_PIXELS
from tests.if_reference import as_pixels, if_pipeline_pair, pixel_difference, without_watermark


def picture(size: int = 96, seed: int = 3) -> PIL.Image.Image:
    """A procedural render, bigger than stage I so that resizing is part of what is compared."""
    return render(sample_scene(np.random.default_rng(seed)), size)


@pytest.fixture(scope="module")
def stage_one(if_geometry_folders):
    return Cascade.from_pretrained(
        if_geometry_folders["stage_I"], device="cpu", safeguards=without_watermark()
    )


@pytest.mark.parametrize("strength", [0.5, 1.0])
def test_stage_one_img2img_matches_diffusers_within_one_level(if_geometry_folders, stage_one, strength):
    prompt, seed, steps, start = "a red circle", 0, 10, picture()
    pipe = IFImg2ImgPipeline.from_pretrained(if_geometry_folders["stage_I"])
    pipe.set_progress_bar_config(disable=True)
    embeds, negative = pipe.encode_prompt(prompt)
    reference = pipe(
        image=start,
        prompt_embeds=embeds,
        negative_prompt_embeds=negative,
        strength=strength,
        num_inference_steps=steps,
        guidance_scale=7.0,  # stage I's default in our plan (IF's text-to-image default); img2img's is 10
        generator=torch.Generator("cpu").manual_seed(seed),
        output_type="pt",
    ).images
    ours = stage_one.generate(prompt, seed=seed, steps=steps, image=start, strength=strength, progress=False)
    difference = pixel_difference(ours[0], as_pixels(reference))
    assert difference.max() <= 1, f"max pixel difference {difference.max()}"
    text_only = stage_one.generate(prompt, seed=seed, steps=steps, progress=False)[0]
    moved = np.abs(np.asarray(text_only).astype(int) - as_pixels(reference).astype(int)).mean()
    assert moved > 5  # the image changed the result (at strength 1 too: t = 900 keeps a trace of it)


def test_img2img_at_256px_starts_stage_two_from_the_picture_as_diffusers_does(
    if_geometry_folders, if_cascade
):
    """IF's img2img flow: stage I from the picture at 64 px (strength 0.7), then stage II from the
    picture at 256 px (its default strength 0.8) conditioned on stage I's image, one generator."""
    folders, prompt, seed, steps, start = if_geometry_folders, "a red circle", 0, (10, 10), picture(300)
    stage_one_pipe, stage_two_pipe, texts = if_pipeline_pair(
        folders, IFImg2ImgPipeline, IFImg2ImgSuperResolutionPipeline, prompt, seed
    )
    low = stage_one_pipe(
        image=start, num_inference_steps=steps[0], guidance_scale=7.0, output_type="pt", **texts
    ).images
    reference = stage_two_pipe(
        image=low, original_image=start, num_inference_steps=steps[1], output_type="pt", **texts
    ).images
    cascade = if_cascade
    ours = cascade.generate(prompt, seed=seed, size=256, steps=steps, image=start, progress=False)[0]
    difference = pixel_difference(ours, as_pixels(reference))
    assert difference.max() <= 1, f"max pixel difference {difference.max()}"
    plan = cascade.plan(GenerationRequest(prompt, seed=seed, size=256, image=start))
    assert [settings.strength for _, settings in plan] == [0.7, 0.8]


def test_img2img_in_a_batch_gives_each_request_its_image_alone(stage_one):
    """Within 1 level, as tests/test_batch_invariance.py (bit-exact needs fixed forward rows)."""
    requests = [
        GenerationRequest(prompt="a blue star", seed=1, steps=6),
        GenerationRequest(prompt="a red circle", seed=2, steps=6, image=picture(), strength=0.5),
        GenerationRequest(prompt="a red circle", seed=2, steps=6, image=picture(seed=4), strength=0.8),
    ]
    together = [np.asarray(r.image).astype(int) for r in stage_one.run(requests, progress=False)]
    alone = [np.asarray(stage_one.run([r], progress=False)[0].image).astype(int) for r in requests]
    assert max(np.abs(a - b).max() for a, b in zip(together, alone, strict=True)) <= 1
    assert np.abs(together[1] - together[2]).mean() > 5  # each started from its own image


def test_img2img_defaults_to_diffusers_strength_and_records_it(stage_one):
    ((_, settings),) = stage_one.plan(GenerationRequest(prompt="a star", seed=0, image=picture()))
    assert settings.strength == IMG2IMG_STRENGTH == 0.7
    ((_, plain),) = stage_one.plan(GenerationRequest(prompt="a star", seed=0))
    assert plain.strength == 1.0


@pytest.mark.parametrize(
    ("fields", "param", "message"),
    [
        ({"strength": 0.5}, "strength", "give image too"),
        ({"image": picture(), "strength": 0.0}, "strength", r"\(0, 1\]"),
        ({"image": picture(), "strength": 1.5}, "strength", r"\(0, 1\]"),
        ({"image": picture(), "strength": True}, "strength", r"\(0, 1\]"),
        ({"image": np.zeros((64, 64, 3))}, "image", "PIL image"),
        ({"image": PIL.Image.new("L", (4097, 4097))}, "image", str(MAX_IMAGE_PIXELS)),
    ],
)
def test_bad_image_inputs_name_their_field(fields, param, message):
    with pytest.raises(InvalidRequestError, match=message) as caught:
        GenerationRequest(prompt="a star", seed=0, **fields)
    assert caught.value.field == param


@pytest.mark.skipif(not SHIPPED_MODEL.is_dir(), reason="no shipped model in this checkout")
def test_shipped_model_img2img_at_low_strength_keeps_the_scene():
    """Ground-truth renders of eval scenes, redrawn at strength 0.3: the parser still reads their scene."""
    cascade = Cascade.from_pretrained(SHIPPED_MODEL, device="cpu")
    cases = [case for case in eval_suite(40) if len(case.scene.objects) == 1][:4]
    kept = []
    for seed, case in enumerate(cases):
        start = render(case.scene, 64)
        image = cascade.generate(case.prompt, seed=seed, image=start, strength=0.3, progress=False)[0]
        kept.append(score(image, case.scene, case.stated)["overall"])
    assert all(kept), kept
