"""DeepFloyd IF run by diffusers' own pipelines: the reference our engine must reproduce.

The references are images before any watermark (diffusers' `output_type="pt"`, and tiny folders
with no IF watermarker), so our cascade is compared with `without_watermark()`: `generate` embeds
our invisible watermark from 256x256 px up, which moves pixels by up to ~19 levels (docs/ENGINE.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import torch
from diffusers import IFPipeline, IFSuperResolutionPipeline, StableDiffusionUpscalePipeline

from cascade.safeguards import Safeguards, allow_everything


def without_watermark() -> Safeguards:
    """Our safeguards as the references run: no watermark, and no prompt filter (it changes no pixel)."""
    return Safeguards(prompt_filter=allow_everything, watermark=False)


def if_pipeline_pair(
    folders: dict[str, Path], first: type, second: type, prompt: str, seed: int
) -> tuple[Any, Any, dict[str, Any]]:
    """Diffusers pipelines of classes `first` and `second` on stages I and II (stage II without a text
    encoder or checkers of its own), quiet, and the keywords both take: the prompt's embeddings and
    one generator, which they draw from in turn as IF's example chains them."""
    stage_one = first.from_pretrained(folders["stage_I"])
    unused = ["text_encoder", "tokenizer", "safety_checker", "feature_extractor", "watermarker"]
    stage_two = second.from_pretrained(folders["stage_II"], **dict.fromkeys(unused))
    for pipe in (stage_one, stage_two):
        pipe.set_progress_bar_config(disable=True)
    embeds, negative = stage_one.encode_prompt(prompt)
    generator = torch.Generator("cpu").manual_seed(seed)
    return (
        stage_one,
        stage_two,
        {"prompt_embeds": embeds, "negative_prompt_embeds": negative, "generator": generator},
    )


def diffusers_if_stages(
    folders: dict[str, Path],
    prompt: str,
    generator: torch.Generator,
    steps: tuple[int, int],
    shape: tuple[int, int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stage I then stage II outputs (raw tensors in [-1, 1]), drawing from one generator as IF's example;
    `shape` is stage I's (width, height) where not its square sample size, stage II's is 4x it."""
    stage_one = IFPipeline.from_pretrained(folders["stage_I"])
    stage_two = IFSuperResolutionPipeline.from_pretrained(folders["stage_II"], text_encoder=None)
    for pipe in (stage_one, stage_two):
        pipe.set_progress_bar_config(disable=True)
    embeds, negative = stage_one.encode_prompt(prompt)
    sides = [{}, {}]
    if shape is not None:
        scale = stage_two.unet.config.sample_size // stage_one.unet.config.sample_size
        sides = [{"width": shape[0] * k, "height": shape[1] * k} for k in (1, scale)]
    low = stage_one(
        prompt_embeds=embeds,
        negative_prompt_embeds=negative,
        generator=generator,
        num_inference_steps=steps[0],
        output_type="pt",
        **sides[0],
    ).images
    high = stage_two(
        image=low,
        prompt_embeds=embeds,
        negative_prompt_embeds=negative,
        generator=generator,
        num_inference_steps=steps[1],
        output_type="pt",
        **sides[1],
    ).images
    return low, high


def diffusers_if_cascade(
    folders: dict[str, Path], upscaler: Path, prompt: str, seed: int, steps: tuple[int, int, int]
) -> np.ndarray:
    """IF's three stages as its diffusers example chains them: stage III gets stage II's image clamped."""
    generator = torch.Generator("cpu").manual_seed(seed)
    _, mid = diffusers_if_stages(folders, prompt, generator, steps[:2])
    stage_three = StableDiffusionUpscalePipeline.from_pretrained(upscaler)
    stage_three.set_progress_bar_config(disable=True)
    image = stage_three(
        prompt=prompt,
        image=mid.clamp(-1, 1),
        noise_level=100,
        generator=generator,
        num_inference_steps=steps[2],
    ).images[0]
    return np.asarray(image)


def as_pixels(image: torch.Tensor) -> np.ndarray:
    """A [-1, 1] tensor to uint8 pixels, rounded as diffusers' numpy_to_pil rounds."""
    return np.asarray(IFPipeline.numpy_to_pil((image / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy())[0])


def pixel_difference(image: PIL.Image.Image, reference: np.ndarray) -> np.ndarray:
    """Per-pixel absolute difference in levels (0-255) between our image and a reference."""
    assert image.size == reference.shape[:2][::-1], f"{image.size} vs {reference.shape}"
    return np.abs(np.asarray(image).astype(int) - reference.astype(int))
