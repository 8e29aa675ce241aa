"""DeepFloyd IF stages I and II run by diffusers' own pipelines: the reference our engine must reproduce."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from diffusers import IFPipeline, IFSuperResolutionPipeline


def diffusers_if_stages(
    folders: dict[str, Path], prompt: str, generator: torch.Generator, steps: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stage I then stage II outputs (raw tensors in [-1, 1]), drawing from one generator as IF's example."""
    stage_one = IFPipeline.from_pretrained(folders["stage_I"])
    stage_two = IFSuperResolutionPipeline.from_pretrained(folders["stage_II"], text_encoder=None)
    for pipe in (stage_one, stage_two):
        pipe.set_progress_bar_config(disable=True)
    embeds, negative = stage_one.encode_prompt(prompt)
    low = stage_one(
        prompt_embeds=embeds,
        negative_prompt_embeds=negative,
        generator=generator,
        num_inference_steps=steps[0],
        output_type="pt",
    ).images
    high = stage_two(
        image=low,
        prompt_embeds=embeds,
        negative_prompt_embeds=negative,
        generator=generator,
        num_inference_steps=steps[1],
        output_type="pt",
    ).images
    return low, high


def as_pixels(image: torch.Tensor) -> np.ndarray:
    """A [-1, 1] tensor to uint8 pixels, rounded as diffusers' numpy_to_pil rounds."""
    return np.asarray(IFPipeline.numpy_to_pil((image / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy())[0])
