"""Our engine on IF folders reproduces diffusers' IF pipelines: the proof that a real IF install works.

At IF's real geometry: stage I at 64 px, stage II upscaling it 4x to 256 px. Each request carries its
own generator and draws in diffusers' order (stage I noise, its step noises, stage II noise,
augmentation noise, its step noises), so one prompt with one seed draws exactly what diffusers draws:
no noise injection is needed. The images are compared before our watermark (tests/if_reference.py).
"""

from __future__ import annotations

import torch

from cascade import GenerationRequest
from tests.if_reference import as_pixels, diffusers_if_stages, pixel_difference


def test_stage_one_at_64px_and_stage_two_at_256px_match_diffusers_within_one_level(
    if_geometry_folders, if_cascade
):
    prompt, seed, steps = "a red circle", 0, (8, 8)  # issue 14's request
    generator = torch.Generator("cpu").manual_seed(seed)
    references = diffusers_if_stages(if_geometry_folders, prompt, generator, steps)
    low = if_cascade.generate(prompt, seed=seed, size=64, steps=steps[0], progress=False)[0]
    high = if_cascade.generate(prompt, seed=seed, size=256, steps=steps, progress=False)[0]
    for got, expected in zip((low, high), (as_pixels(x) for x in references), strict=True):
        difference = pixel_difference(got, expected)
        assert difference.max() <= 1, f"{got.size}: max pixel difference {difference.max()}"
        assert expected.std() > 5  # a real image, not a flat field that would match anything


def test_a_landscape_two_stage_render_matches_diffusers_with_its_height_and_width(
    if_geometry_folders, if_cascade
):
    """1536x1024's shape at IF's stage I and II sizes: 96x64, then 384x256 (IF's U-Nets are convolutional,
    diffusers takes height and width)."""
    prompt, seed, steps = "a wide green field", 3, (6, 6)
    generator = torch.Generator("cpu").manual_seed(seed)
    references = diffusers_if_stages(if_geometry_folders, prompt, generator, steps, shape=(96, 64))
    low = if_cascade.generate(prompt, seed=seed, size=(96, 64), steps=steps[0], progress=False)[0]
    high = if_cascade.generate(prompt, seed=seed, size=(384, 256), steps=steps, progress=False)[0]
    assert (low.size, high.size) == ((96, 64), (384, 256))
    for got, expected in zip((low, high), (as_pixels(x) for x in references), strict=True):
        difference = pixel_difference(got, expected)
        assert difference.max() <= 1, f"{got.size}: max pixel difference {difference.max()}"
        assert expected.std() > 5


def test_if_defaults_follow_deepfloyd(if_cascade):
    (_, first), (_, second) = if_cascade.plan(GenerationRequest(prompt="a star", seed=0, size=256))
    assert (first.steps, first.guidance, first.solver) == (100, 7.0, "ddpm")
    assert (second.steps, second.guidance, second.noise_level) == (50, 4.0, 250)
    assert (first.thresholding.mode, first.thresholding.percentile) == ("dynamic", 0.95)
    # IF's own scheduler configs: stage I thresholds up to 1.5, stage II only clips.
    assert (first.thresholding.max_value, second.thresholding.max_value) == (1.5, 1.0)
