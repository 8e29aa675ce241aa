"""The demo recipe turns into valid `cascade train` settings, and its export fits one device call back."""

from __future__ import annotations

import argparse

import pytest

from cascade.training.cli import add_train_arguments, config_from_args
from cascade.training.demo import DEMO_RECIPE, stage_arguments
from cascade.training.trainer import new_unet


def parsed(stage: str, tmp_path) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    return parser.parse_args(stage_arguments(stage, tmp_path / stage, minutes=6.5))


@pytest.mark.parametrize("stage", list(DEMO_RECIPE))
def test_recipe_parses_as_train_arguments(stage, tmp_path):
    args, recipe = parsed(stage, tmp_path), DEMO_RECIPE[stage]
    assert (args.stage, args.max_minutes, args.out) == (stage, 6.5, tmp_path / stage)
    assert (args.width, args.levels, args.batch_size, args.workers) == (
        recipe["width"],
        recipe["levels"],
        recipe["batch_size"],
        recipe["workers"],
    )
    assert args.mid_attention == recipe.get("mid_attention", True)


def test_exported_weights_fit_what_one_device_call_brings_back(tmp_path):
    """fp16 weights of all three stages under the 64 MiB a device call returns (MiniLM's width: 384)."""
    unets = [new_unet(config_from_args(parsed(stage, tmp_path)), text_width=384) for stage in DEMO_RECIPE]
    assert 2 * sum(p.numel() for unet in unets for p in unet.parameters()) < 60 * 2**20
