"""Our engine on IF folders reproduces diffusers' IF pipelines: the proof that a real IF install works.

Each request carries its own generator and draws in diffusers' order (stage I noise, its step noises,
stage II noise, augmentation noise, its step noises), so one prompt with one seed draws exactly what
diffusers draws: no noise injection is needed.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import IFPipeline, IFSuperResolutionPipeline

from cascade import Cascade, GenerationRequest


@pytest.fixture(scope="module")
def ours(if_folders):
    return Cascade.from_pretrained(if_folders["stage_I"], stage_II=if_folders["stage_II"], device="cpu")


def diffusers_images(if_folders, prompt: str, seed: int, steps: tuple[int, int]) -> list[np.ndarray]:
    stage_one = IFPipeline.from_pretrained(if_folders["stage_I"])
    stage_two = IFSuperResolutionPipeline.from_pretrained(if_folders["stage_II"], text_encoder=None)
    for pipe in (stage_one, stage_two):
        pipe.set_progress_bar_config(disable=True)
    prompt_embeds, negative_embeds = stage_one.encode_prompt(prompt)
    generator = torch.Generator("cpu").manual_seed(seed)
    low = stage_one(
        prompt_embeds=prompt_embeds,
        negative_prompt_embeds=negative_embeds,
        generator=generator,
        num_inference_steps=steps[0],
        output_type="pt",
    ).images
    high = stage_two(
        image=low,
        prompt_embeds=prompt_embeds,
        negative_prompt_embeds=negative_embeds,
        generator=generator,
        num_inference_steps=steps[1],
        output_type="pt",
    ).images
    return [
        np.asarray(IFPipeline.numpy_to_pil((x / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy())[0])
        for x in (low, high)
    ]


def test_two_stage_images_match_diffusers_within_one_level(if_folders, ours):
    steps = (12, 6)
    expected_low, expected_high = diffusers_images(if_folders, "a red star above a blue ring", 1234, steps)
    low = ours.generate("a red star above a blue ring", seed=1234, size=16, steps=steps[0], progress=False)[0]
    high = ours.generate("a red star above a blue ring", seed=1234, size=32, steps=steps, progress=False)[0]
    for got, expected in ((low, expected_low), (high, expected_high)):
        difference = np.abs(np.asarray(got).astype(int) - expected.astype(int))
        assert got.size == expected.shape[:2][::-1]
        assert difference.max() <= 1, f"max pixel difference {difference.max()}"
        assert expected.std() > 5  # a real image, not a flat field that would match anything


def test_if_defaults_follow_deepfloyd(ours):
    (_, first), (_, second) = ours.plan(GenerationRequest(prompt="a star", seed=0, size=32))
    assert (first.steps, first.guidance, first.solver) == (100, 7.0, "ddpm")
    assert (second.steps, second.guidance, second.noise_level) == (50, 4.0, 250)
    assert first.thresholding.mode == "dynamic" and first.thresholding.percentile == 0.95
