"""Every way into the cascade is screened before model work, and every image leaves checked and marked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
from diffusers.pipelines.deepfloyd_if.safety_checker import IFSafetyChecker
from transformers import CLIPConfig, CLIPImageProcessor

from cascade import Cascade, GenerationRequest
from cascade.safeguards import Safeguards, allow_everything
from safety import PromptFilter, PromptRejected
from safety import watermark as image_watermark


@pytest.fixture(scope="module")
def lexical_cascade(own_folder) -> Cascade:
    return Cascade.from_pretrained(own_folder, safeguards=Safeguards(PromptFilter(semantic=False).check))


def test_refused_prompt_raises_before_any_model_work(lexical_cascade, monkeypatch):
    def no_model_work(*args, **kwargs):
        raise AssertionError("the model ran for a refused prompt")

    monkeypatch.setattr(lexical_cascade.encoder, "encode", no_model_work)
    for stage in lexical_cascade.stages:
        monkeypatch.setattr(stage, "step", no_model_work)
    with pytest.raises(PromptRejected) as refusal:
        lexical_cascade.generate("a naked woman on a beach", seed=1, size=16)
    assert refusal.value.verdict.category == "sexual"
    requests = [GenerationRequest("a red star", seed=1, size=16), GenerationRequest("gore and blood", seed=2)]
    with pytest.raises(PromptRejected):  # one refused prompt stops the whole batch, before any work
        lexical_cascade.run(requests, progress=False)


def test_negative_prompts_are_not_screened(lexical_cascade):
    image = lexical_cascade.generate("a red star", negative_prompt="nudity, gore", seed=1, size=16, steps=1)[
        0
    ]
    assert image.size == (16, 16)


def test_finish_marks_images_the_watermark_can_hold():
    image = PIL.Image.fromarray(np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8))
    assert not image_watermark.detect(image)
    assert image_watermark.detect(Safeguards(allow_everything).finish(image))
    assert not image_watermark.detect(Safeguards(allow_everything, watermark=False).finish(image))


def add_if_safety_checker(stage_one: Path, *, flags: bool) -> None:
    """A tiny IF safety checker whose NSFW head always (or never) fires, saved as IF ships its own."""
    torch.manual_seed(0)
    vision = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4,
              "image_size": 32, "patch_size": 8, "projection_dim": 16}  # fmt: skip
    checker = IFSafetyChecker(CLIPConfig(vision_config=vision, text_config={"hidden_size": 32}))
    for head, bias in ((checker.p_head, 10.0 if flags else -10.0), (checker.w_head, -10.0)):
        torch.nn.init.zeros_(head.weight)
        torch.nn.init.constant_(head.bias, bias)
    checker.save_pretrained(stage_one / "safety_checker")
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        stage_one / "feature_extractor"
    )
    index = json.loads((stage_one / "model_index.json").read_text())
    index["safety_checker"] = ["deepfloyd_if", "IFSafetyChecker"]
    index["feature_extractor"] = ["transformers", "CLIPImageProcessor"]
    (stage_one / "model_index.json").write_text(json.dumps(index))


@pytest.mark.parametrize("flags", [True, False])
def test_if_checkpoint_with_a_safety_checker_blanks_what_it_flags(tmp_path, flags):
    from tests.tiny_models import build_if_checkpoint

    folders = build_if_checkpoint(tmp_path)
    add_if_safety_checker(folders["stage_I"], flags=flags)
    lexical = PromptFilter(semantic=False).check
    pipe = Cascade.from_pretrained(folders["stage_I"], stage_II=folders["stage_II"])
    assert pipe.safeguards.output_checker is not None
    pipe.safeguards.prompt_filter = lexical
    image = np.asarray(pipe.generate("a red star", seed=3, size=32, steps=2)[0])
    assert (image.max() == 0) == flags


def test_if_checkpoint_without_a_safety_checker_has_none(if_folders):
    pipe = Cascade.from_pretrained(if_folders["stage_I"], stage_II=if_folders["stage_II"])
    assert pipe.safeguards.output_checker is None
