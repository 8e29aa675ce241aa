"""Bad input raises a specific error naming the field and what is allowed; nothing is coerced."""

from __future__ import annotations

import json
import math
import shutil

import pytest

from cascade import Cascade, CheckpointError, GenerationRequest, InvalidRequestError


@pytest.fixture(scope="module")
def cascade(own_folder):
    return Cascade.from_pretrained(own_folder, device="cpu")


@pytest.mark.parametrize(
    ("settings", "field", "hint"),
    [
        ({"prompt": ""}, "prompt", "empty"),
        ({"prompt": "   \n"}, "prompt", "whitespace"),
        ({"prompt": "\x00\x00"}, "prompt", "invisible"),
        ({"prompt": "\u200b\u200d\ufeff \u2028"}, "prompt", "invisible"),
        ({"prompt": "a red \ud800 star"}, "prompt", "lone surrogate at character 6"),
        ({"negative_prompt": "blurry \udfff"}, "negative_prompt", "lone surrogate"),
        ({"prompt": 42}, "prompt", "string"),
        ({"prompt": ["ok", None]}, "prompt", "string"),
        ({"prompt": []}, "prompt", "non-empty"),
        ({"size": 100}, "size", "[16, 32, 64]"),
        ({"size": "64"}, "size", "a positive integer or a (width, height) pair"),
        ({"steps": 0}, "steps", "1 to 1000"),
        ({"steps": 10**6}, "steps", "1 to 1000"),
        ({"steps": 2.5}, "steps", "integer"),
        ({"steps": (4, 4)}, "steps", "one per stage (3 stages run)"),
        ({"guidance": math.nan}, "guidance", "finite"),
        ({"guidance": -1.0}, "guidance", "0 to 100"),
        ({"guidance": math.inf}, "guidance", "finite"),
        ({"seed": -1}, "seed", "2**63"),
        ({"seed": "7"}, "seed", "integer"),
        ({"solver": "euler"}, "solver", "ddim"),
        ({"noise_level": 1000}, "noise_level", "999"),
    ],
)
def test_bad_request_field_is_named_with_allowed_values(cascade, settings, field, hint):
    call = {"prompt": "a red star", "seed": 1, "size": 64, "progress": False} | settings
    prompt = call.pop("prompt")
    with pytest.raises(InvalidRequestError) as error:
        cascade.generate(prompt, **call)
    assert error.value.field == field
    assert hint in str(error.value)


def test_visible_text_among_invisible_characters_is_a_prompt():
    assert GenerationRequest(prompt="\u200ba\u200b", seed=0).prompt == "\u200ba\u200b"
    assert GenerationRequest(prompt="a", seed=0, negative_prompt="\u200b").negative_prompt == "\u200b"


def test_a_value_echoed_in_an_error_is_cut_short():
    with pytest.raises(InvalidRequestError) as refusal:
        GenerationRequest(prompt="a", seed=0, solver="x" * 20_000)
    assert len(str(refusal.value)) < 200 and "20002 characters" in str(refusal.value)


def test_request_object_validates_on_construction():
    with pytest.raises(InvalidRequestError, match="negative_prompt"):
        GenerationRequest(prompt="ok", seed=0, negative_prompt=3)
    with pytest.raises(InvalidRequestError, match="seed"):
        GenerationRequest(prompt="ok", seed=True)


def test_missing_model_folder_names_the_path(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        Cascade.from_pretrained(tmp_path / "nowhere")


def test_folder_that_is_no_model_says_what_is_missing(tmp_path):
    with pytest.raises(CheckpointError, match=r"no cascade\.json and no model_index\.json"):
        Cascade.from_pretrained(tmp_path)


def test_manifest_pointing_at_missing_stage_names_the_stage(own_folder, tmp_path):
    broken = shutil.copytree(own_folder, tmp_path / "model")
    shutil.rmtree(broken / "stage_32px")
    with pytest.raises(CheckpointError, match="stage '32px' folder does not exist"):
        Cascade.from_pretrained(broken)


def test_corrupt_manifest_and_corrupt_weights_are_reported(own_folder, tmp_path):
    broken = shutil.copytree(own_folder, tmp_path / "model")
    (broken / "cascade.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        Cascade.from_pretrained(broken)
    (broken / "cascade.json").write_text(json.dumps({"format": "imagen-cascade", "version": 1}))
    with pytest.raises(CheckpointError, match="malformed manifest"):
        Cascade.from_pretrained(broken)
    shutil.copy(own_folder / "cascade.json", broken / "cascade.json")
    weights = broken / "stage_16px" / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="cannot load stage '16px'"):
        Cascade.from_pretrained(broken)


def test_if_stage_options_are_refused_for_our_format(own_folder, if_folders):
    with pytest.raises(CheckpointError, match="apply to IF folders"):
        Cascade.from_pretrained(own_folder, stage_II=if_folders["stage_II"])
