"""Training one stage: epsilon prediction with min-SNR weighting, EMA weights, exact resume.

Data and randomness are pure functions of (seed, step): batch `step` holds samples
[step * B, (step + 1) * B), and caption dropout, timesteps, noise and augmentation levels come from a
generator seeded by (seed, step). A run resumed from a checkpoint therefore continues exactly as an
uninterrupted run would, with no RNG state to save. Checkpoints are written to a temporary file and
renamed, so a kill at any moment leaves the previous checkpoint intact.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from diffusers import DDPMScheduler, UNet2DConditionModel
from diffusers.training_utils import EMAModel
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from cascade.architectures import TRAINED_SCHEDULER, image_noising_scheduler, stage_unet
from cascade.stages.super_resolution import noise_augment, upsample
from cascade.text_encoder import TextEncoder
from cascade.training.config import TrainConfig
from cascade.training.losses import min_snr_weights
from cascade.training.run_folder import (
    append_log,
    keep_same_settings,
    load_checkpoint,
    save_checkpoint,
    truncate_log,
)

SampleFn = Callable[[int], tuple[torch.Tensor, str]]  # index -> (image (3, crop, crop) in [-1, 1], caption)
CONFIG = "train_config.json"


class StepBatches(Dataset):
    """Batch `step` of a run: a pure function of the step, so any worker can build any batch."""

    def __init__(self, sample: SampleFn, batch_size: int, steps: int) -> None:
        self.sample, self.batch_size, self.steps = sample, batch_size, steps

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, step: int) -> tuple[torch.Tensor, list[str]]:
        pairs = [self.sample(step * self.batch_size + i) for i in range(self.batch_size)]
        return torch.stack([image for image, _ in pairs]), [caption for _, caption in pairs]


@dataclass
class TrainingInputs:
    model_input: torch.Tensor
    timesteps: torch.Tensor
    target: torch.Tensor
    captions: list[str]
    class_labels: torch.Tensor | None


def training_inputs(
    config: TrainConfig,
    images: torch.Tensor,
    captions: list[str],
    step: int,
    scheduler: DDPMScheduler,
    noising: DDPMScheduler,
) -> TrainingInputs:
    """Noise a batch for one step; super-resolution stages also get their augmented low-res input."""
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
    count = images.shape[0]
    dropped = torch.rand(count, generator=generator) < config.caption_dropout
    captions = ["" if drop else caption for caption, drop in zip(captions, dropped.tolist(), strict=True)]
    noise = torch.randn(images.shape, generator=generator)
    timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (count,), generator=generator)
    model_input = scheduler.add_noise(images, noise, timesteps)
    class_labels = None
    if config.super_resolution:
        resolution, input_resolution, _ = config.geometry
        low = F.interpolate(images, scale_factor=input_resolution / resolution, mode="area")
        class_labels = torch.randint(0, config.max_augmentation, (count,), generator=generator)
        conditioning = noise_augment(upsample(low, images.shape[-1]), class_labels, noising, generator)
        model_input = torch.cat([model_input, conditioning], dim=1)
    return TrainingInputs(model_input, timesteps, noise, captions, class_labels)


def new_unet(config: TrainConfig, text_width: int) -> UNet2DConditionModel:
    torch.manual_seed(config.seed)
    resolution, _, _ = config.geometry
    return stage_unet(
        resolution=resolution,
        text_width=text_width,
        width=config.width,
        levels=config.levels,
        super_resolution=config.super_resolution,
        attention_from_level=config.attention_from_level,
        mid_attention=config.mid_attention,
    )


def train_stage(
    config: TrainConfig,
    sample: SampleFn,
    run_dir: Path,
    encoder: TextEncoder,
    *,
    progress: bool = True,
    stop_after: int | None = None,
    time_limit_s: float | None = None,
) -> dict[str, float]:
    """Train (or resume) one stage in `run_dir`; returns the last logged figures.

    `time_limit_s` stops the run, with a checkpoint, after that much wall time: a lent GPU is had for
    minutes, not steps, and rerunning the same command resumes.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    keep_same_settings(config, run_dir / CONFIG)
    accelerator = Accelerator(mixed_precision="bf16" if torch.cuda.is_available() else "no")
    unet = new_unet(config, encoder.width)
    unet.save_config(run_dir)
    ema = EMAModel(unet.parameters(), decay=config.ema_decay)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=config.learning_rate, weight_decay=0.0)
    start = _resume(run_dir, unet, optimizer, ema)
    unet, optimizer = accelerator.prepare(unet, optimizer)
    ema.to(accelerator.device)
    scheduler = DDPMScheduler.from_config(TRAINED_SCHEDULER)
    noising = image_noising_scheduler()
    batches = StepBatches(sample, config.batch_size, config.steps)
    loader = DataLoader(
        batches,
        batch_size=None,
        sampler=range(start, config.steps),
        num_workers=config.data_workers,
        persistent_workers=config.data_workers > 0,
    )
    figures: dict[str, float] = {}
    bar = tqdm(
        total=config.steps, initial=start, desc=f"train {config.stage}", disable=not progress, unit="step"
    )
    began, images_seen = time.monotonic(), 0
    for step, (images, captions) in zip(range(start, config.steps), loader, strict=False):
        inputs = training_inputs(config, images, captions, step, scheduler, noising)
        embeddings = encoder.encode(inputs.captions)
        tokens = torch.stack([e.tokens for e in embeddings])
        mask = torch.stack([e.mask for e in embeddings])
        device = accelerator.device
        with accelerator.autocast():
            prediction = unet(
                inputs.model_input.to(device),
                inputs.timesteps.to(device),
                encoder_hidden_states=tokens.to(device),
                encoder_attention_mask=mask.to(device),
                class_labels=None if inputs.class_labels is None else inputs.class_labels.to(device),
            ).sample
        per_sample = F.mse_loss(prediction.float(), inputs.target.to(device), reduction="none").mean(
            dim=(1, 2, 3)
        )
        weights = min_snr_weights(inputs.timesteps.to(device), scheduler.alphas_cumprod, config.snr_gamma)
        loss = (per_sample * weights).mean()
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(unet.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        ema.step(unet.parameters())
        images_seen += images.shape[0]
        figures = {
            "step": step + 1,
            "loss": loss.item(),
            "images_per_s": images_seen / max(time.monotonic() - began, 1e-9),
        }
        bar.update(1)
        bar.set_postfix(loss=f"{figures['loss']:.4f}", img_s=f"{figures['images_per_s']:.1f}")
        append_log(run_dir, [figures])
        out_of_time = time_limit_s is not None and time.monotonic() - began >= time_limit_s
        if (step + 1) % config.checkpoint_every == 0 or step + 1 == config.steps or out_of_time:
            _save_checkpoint(run_dir, step + 1, accelerator.unwrap_model(unet), optimizer, ema)
        if out_of_time or (stop_after is not None and step + 1 >= stop_after):
            break
    bar.close()
    return figures


def ema_unet(run_dir: Path) -> UNet2DConditionModel:
    """The run's EMA weights in a fresh U-Net: what export ships."""
    unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(run_dir))
    state = load_checkpoint(run_dir)
    ema = EMAModel(unet.parameters())
    ema.load_state_dict(state["ema"])
    ema.copy_to(unet.parameters())
    return unet.eval()


def _resume(run_dir: Path, unet, optimizer, ema: EMAModel) -> int:
    state = load_checkpoint(run_dir)
    if state is None:
        return 0
    unet.load_state_dict(state["unet"])
    optimizer.load_state_dict(state["optimizer"])
    ema.load_state_dict(state["ema"])
    truncate_log(run_dir, lambda entry: entry["step"] <= state["step"])
    return state["step"]


def _save_checkpoint(run_dir: Path, step: int, unet, optimizer, ema: EMAModel) -> None:
    save_checkpoint(
        run_dir,
        {
            "step": step,
            "unet": unet.state_dict(),
            "optimizer": optimizer.state_dict(),
            "ema": ema.state_dict(),
        },
    )
