"""IF's third stage, the Stable Diffusion x4 upscaler, runs inside our cascade as diffusers runs it."""

from __future__ import annotations

import numpy as np
import torch
from diffusers import StableDiffusionUpscalePipeline
from if_reference import diffusers_if_stages

from cascade import Cascade


def test_three_stage_if_cascade_matches_diffusers_chain(if_folders, upscaler_folder):
    prompt, seed, steps = "a red star above a blue ring", 21, (6, 4, 5)
    ours = Cascade.from_pretrained(
        if_folders["stage_I"], stage_II=if_folders["stage_II"], stage_III=upscaler_folder, device="cpu"
    )
    assert ours.sizes == (16, 32, 128)
    image = ours.generate(prompt, seed=seed, size=128, steps=steps, progress=False)[0]

    stage_three = StableDiffusionUpscalePipeline.from_pretrained(upscaler_folder)
    stage_three.set_progress_bar_config(disable=True)
    generator = torch.Generator("cpu").manual_seed(seed)
    _, mid = diffusers_if_stages(if_folders, prompt, generator, steps[:2])
    expected = stage_three(
        prompt=prompt,
        image=mid.clamp(-1, 1),
        noise_level=100,
        generator=generator,
        num_inference_steps=steps[2],
    ).images[0]

    assert image.size == expected.size == (128, 128)
    difference = np.abs(np.asarray(image).astype(int) - np.asarray(expected).astype(int))
    assert difference.max() <= 1, f"max pixel difference {difference.max()}"
