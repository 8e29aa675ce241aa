"""IF's output safety checker, from a folder with a tiny random `IFSafetyChecker`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers.pipelines.deepfloyd_if.safety_checker import IFSafetyChecker
from PIL import Image
from transformers import CLIPConfig, CLIPImageProcessor

from safety.output_checker import IFOutputChecker


@pytest.fixture(scope="module")
def stage_dir(tmp_path_factory) -> Path:
    """A stage-I folder with `safety_checker/` and `feature_extractor/`, as IFPipeline saves them."""
    folder = tmp_path_factory.mktemp("if") / "IF-I-tiny"
    torch.manual_seed(0)
    vision = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4}
    vision |= {"image_size": 32, "patch_size": 8, "projection_dim": 16}
    text = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 1, "num_attention_heads": 4}
    checker = IFSafetyChecker(CLIPConfig(vision_config=vision, text_config=text, projection_dim=16))
    with torch.no_grad():  # heads that score exactly 0.0, so the thresholds alone decide
        for head in (checker.p_head, checker.w_head):
            head.weight.zero_()
            head.bias.zero_()
    checker.save_pretrained(folder / "safety_checker")
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        folder / "feature_extractor"
    )
    return folder


def photo() -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8))


def test_a_flagged_image_is_replaced_by_a_black_one(stage_dir):
    checker = IFOutputChecker.from_folder(stage_dir, p_threshold=-1.0)
    image, flagged = checker(photo())
    assert flagged
    assert image.size == (64, 48) and not np.asarray(image).any()


def test_a_visible_watermark_is_flagged_too(stage_dir):
    _, flagged = IFOutputChecker.from_folder(stage_dir, w_threshold=-1.0)(photo())
    assert flagged


def test_an_image_under_the_thresholds_passes_unchanged(stage_dir):
    checker = IFOutputChecker.from_folder(stage_dir)  # IF's defaults: 0.5
    assert not checker.model.p_head.weight.any()  # the saved weights, not a fresh initialisation
    original = photo()
    image, flagged = checker(original)
    assert not flagged and image is original


def test_a_folder_without_a_checker_gives_none(tmp_path, stage_dir):
    assert IFOutputChecker.from_folder(tmp_path) is None
    (tmp_path / "safety_checker").mkdir()
    assert IFOutputChecker.from_folder(tmp_path) is None  # feature_extractor/ missing too
