"""IF's third stage, the Stable Diffusion x4 upscaler, runs inside our cascade as diffusers runs it."""

from __future__ import annotations

import numpy as np
import torch
from diffusers import IFPipeline, IFSuperResolutionPipeline, StableDiffusionUpscalePipeline

from cascade import Cascade


def test_three_stage_if_cascade_matches_diffusers_chain(if_folders, upscaler_folder):
    prompt, seed, steps = "a red star above a blue ring", 21, (6, 4, 5)
    ours = Cascade.from_pretrained(
        if_folders["stage_I"], stage_II=if_folders["stage_II"], stage_III=upscaler_folder, device="cpu"
    )
    assert ours.sizes == (16, 32, 128)
    image = ours.generate(prompt, seed=seed, size=128, steps=steps, progress=False)[0]

    stage_one = IFPipeline.from_pretrained(if_folders["stage_I"])
    stage_two = IFSuperResolutionPipeline.from_pretrained(if_folders["stage_II"], text_encoder=None)
    stage_three = StableDiffusionUpscalePipeline.from_pretrained(upscaler_folder)
    for pipe in (stage_one, stage_two, stage_three):
        pipe.set_progress_bar_config(disable=True)
    embeds, negative = stage_one.encode_prompt(prompt)
    generator = torch.Generator("cpu").manual_seed(seed)
    low = stage_one(
        prompt_embeds=embeds,
        negative_prompt_embeds=negative,
        generator=generator,
        num_inference_steps=steps[0],
        output_type="pt",
    ).images
    mid = stage_two(
        image=low,
        prompt_embeds=embeds,
        negative_prompt_embeds=negative,
        generator=generator,
        num_inference_steps=steps[1],
        output_type="pt",
    ).images
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
