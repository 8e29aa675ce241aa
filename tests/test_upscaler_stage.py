"""IF's third stage, the Stable Diffusion x4 upscaler, runs inside our cascade as diffusers runs it.

At IF's real geometry, 64 -> 256 -> 1024 px; few steps per stage, because a 1024 px image is costly
even with tiny weights. Compared before our watermark (tests/if_reference.py).
"""

from __future__ import annotations

from cascade import Cascade
from tests.if_reference import diffusers_if_cascade, pixel_difference, without_watermark


def test_three_stage_if_cascade_at_1024px_matches_diffusers_chain(if_geometry_folders, upscaler_folder):
    prompt, seed, steps = "a red star above a blue ring", 21, (6, 4, 3)
    ours = Cascade.from_pretrained(
        if_geometry_folders["stage_I"],
        stage_II=if_geometry_folders["stage_II"],
        stage_III=upscaler_folder,
        device="cpu",
        safeguards=without_watermark(),
    )
    assert ours.sizes == (64, 256, 1024)
    image = ours.generate(prompt, seed=seed, size=1024, steps=steps, progress=False)[0]
    expected = diffusers_if_cascade(if_geometry_folders, upscaler_folder, prompt, seed, steps)

    difference = pixel_difference(image, expected)
    assert difference.max() <= 1, f"max pixel difference {difference.max()}"
    assert expected.std() > 5  # a real image, not a flat field that would match anything
