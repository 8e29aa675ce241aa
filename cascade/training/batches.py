"""What one stage of the new recipe trains on at one step, as pure functions of (seed, stage, step).

Batch `step` of a stage holds world indices [step * B, (step + 1) * B): scenes, captions and crop windows
come from (seed, index) as in `WorldDataset.describe`, small enough for DataLoader workers to build and
tokenise, while the device draws the pixels (`cascade.data.torch_draw`). Caption dropout, timesteps, noise
and augmentation levels come from a device generator seeded by (seed, stage, step). A resumed run
therefore sees exactly the batches an uninterrupted one would, with no RNG state to save.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler
from torch.utils.data import DataLoader, Dataset

from cascade.data.dataset import WorldDataset
from cascade.data.scene import Scene
from cascade.stages.super_resolution import noise_augment, upsample
from cascade.text_encoder import TextEncoder
from cascade.training.config import RecipeConfig, StageRecipe
from cascade.training.objective import diffuse, loss_weights

DrawFn = Callable[..., torch.Tensor]  # `cascade.data.torch_draw.draw_scenes`


class Descriptions(NamedTuple):
    """A batch before drawing: what to draw, the captions' tokens and where each crop window lies."""

    scenes: list[Scene]
    input_ids: torch.Tensor  # (B, max_tokens)
    attention_mask: torch.Tensor  # (B, max_tokens)
    offsets: torch.Tensor | None  # (B, 2) (left, top) of each crop in render pixels; None: whole render


class StageDescriptions(Dataset):
    """Item `step`: the descriptions of that step's batch of one stage."""

    def __init__(self, recipe: StageRecipe, seed: int, tokenizer, max_tokens: int) -> None:
        resolution, input_resolution, crop = recipe.geometry
        self.world = WorldDataset(resolution=resolution, seed=seed)
        self.batch_size, self.crop, self.tokenizer, self.max_tokens = (
            recipe.batch_size,
            crop,
            tokenizer,
            max_tokens,
        )
        # Crops start on the low-res pixel grid: their area downsample is a window of the whole low-res image.
        self.grid = resolution // input_resolution if input_resolution else 1

    def __getitem__(self, step: int) -> Descriptions:
        indices = range(step * self.batch_size, (step + 1) * self.batch_size)
        scenes, captions = zip(*(self.world.describe(index) for index in indices), strict=True)
        tokens = self.tokenizer(
            [c.text for c in captions],
            padding="max_length",
            max_length=self.max_tokens,
            truncation=True,
            return_tensors="pt",
        )
        return Descriptions(
            list(scenes), tokens["input_ids"], tokens["attention_mask"], self._offsets(indices)
        )

    def _offsets(self, indices: range) -> torch.Tensor | None:
        resolution = self.world.resolution
        if self.crop >= resolution:
            return None
        cells = (resolution - self.crop) // self.grid + 1
        # The crop's own generator, as WorldDataset's, so it never shifts the scene or caption draws.
        windows = [np.random.default_rng([self.world.seed, i, 1]).integers(0, cells, 2) for i in indices]
        return torch.from_numpy(np.stack(windows) * self.grid)


def stage_descriptions(descriptions: StageDescriptions, start: int, workers: int) -> Iterator[Descriptions]:
    """The stage's batches from step `start` on, built in `workers` processes (0: in this one)."""
    steps = itertools.count(start)
    if workers == 0:
        return map(descriptions.__getitem__, steps)
    loader = DataLoader(
        descriptions,
        batch_size=None,
        sampler=steps,
        num_workers=workers,
        pin_memory=torch.cuda.is_available(),
    )
    return iter(loader)


class CaptionStates:
    """Token ids to the frozen encoder's states on the device, one batched forward a step; dropped
    captions take the states of the empty caption, encoded once.

    The forward runs on the batch's longest caption, not on `max_tokens` (a third of the cost on CPU at
    96 tokens); the states are zero-padded back, so the U-Nets always see one shape (no recompiles) and
    the mask hides the padding, as it hides the encoder's own at inference.
    """

    def __init__(self, encoder: TextEncoder) -> None:
        empty = encoder.encode([""])[0]
        self.model = encoder.model
        # Clones: the encoder's outputs are inference tensors, which autograd may not see.
        self.empty_tokens, self.empty_mask = empty.tokens.clone(), empty.mask.clone()

    @torch.no_grad()
    def __call__(self, described: Descriptions, dropped: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        device = dropped.device
        ids = described.input_ids.to(device, non_blocking=True)
        mask = described.attention_mask.to(device, non_blocking=True)
        longest = int(described.attention_mask.sum(dim=1).max())
        states = self.model(ids[:, :longest], attention_mask=mask[:, :longest])[0]
        states = F.pad(states, (0, 0, 0, ids.shape[1] - longest))
        states = torch.where(dropped[:, None, None], self.empty_tokens, states)
        return states, torch.where(dropped[:, None], self.empty_mask, mask)


@dataclass
class NoisedBatch:
    model_input: torch.Tensor  # x_t, with the augmented upsampled low-res image for super-resolution
    timesteps: torch.Tensor
    target: torch.Tensor  # v
    weights: torch.Tensor  # per-sample loss weights
    dropped: torch.Tensor  # captions replaced by the empty one
    class_labels: torch.Tensor | None  # augmentation levels (super-resolution)


def step_generator(seed: int, stage_index: int, step: int, device: torch.device) -> torch.Generator:
    """The generator of one step of one stage: well mixed from (seed, stage, step)."""
    key = int(np.random.SeedSequence([seed, stage_index, step]).generate_state(1)[0])
    return torch.Generator(device).manual_seed(key)


def noised_batch(
    images: torch.Tensor,
    recipe: StageRecipe,
    config: RecipeConfig,
    generator: torch.Generator,
    alphas_cumprod: torch.Tensor,
    timestep_limit: int,
    noising: DDPMScheduler,
) -> NoisedBatch:
    """Noise a drawn batch (on its device); super-resolution stages also get their conditioning: the
    area-downsampled batch, upsampled with half-pixel centres and noise-augmented (Imagen section 2.4)."""
    count, device = images.shape[0], images.device
    dropped = torch.rand(count, generator=generator, device=device) < config.caption_dropout
    timesteps = torch.randint(0, timestep_limit, (count,), generator=generator, device=device)
    noise = torch.randn(images.shape, generator=generator, device=device)
    alpha_bar = alphas_cumprod[timesteps]
    model_input, target = diffuse(images, noise, alpha_bar)
    levels = None
    if recipe.super_resolution:
        resolution, input_resolution, _ = recipe.geometry
        low = F.interpolate(images, scale_factor=input_resolution / resolution, mode="area")
        levels = torch.randint(0, config.max_augmentation, (count,), generator=generator, device=device)
        conditioning = noise_augment(
            upsample(low, images.shape[-1], "half_pixel"), levels, noising, generator
        )
        model_input = torch.cat([model_input, conditioning], dim=1)
    return NoisedBatch(
        model_input, timesteps, target, loss_weights(alpha_bar, config.snr_gamma), dropped, levels
    )
