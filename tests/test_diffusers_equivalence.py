"""Our engine on IF folders reproduces diffusers' IF pipelines: the proof that a real IF install works.

Each request carries its own generator and draws in diffusers' order (stage I noise, its step noises,
stage II noise, augmentation noise, its step noises), so one prompt with one seed draws exactly what
diffusers draws: no noise injection is needed.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from if_reference import as_pixels, diffusers_if_stages

from cascade import Cascade, GenerationRequest


@pytest.fixture(scope="module")
def ours(if_folders):
    return Cascade.from_pretrained(if_folders["stage_I"], stage_II=if_folders["stage_II"], device="cpu")


def test_two_stage_images_match_diffusers_within_one_level(if_folders, ours):
    steps = (12, 6)
    generator = torch.Generator("cpu").manual_seed(1234)
    references = diffusers_if_stages(if_folders, "a red star above a blue ring", generator, steps)
    expected_low, expected_high = (as_pixels(x) for x in references)
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
