"""Our own model folder: `cascade.json` + diffusers-layout stages, fp16 shards of at most 16 MiB."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cascade import Cascade


@pytest.fixture(scope="module")
def loaded(own_folder):
    return Cascade.from_pretrained(own_folder, device="cpu")


def test_saved_folder_holds_fp16_shards_no_larger_than_16_mib(own_folder):
    weights = list(own_folder.rglob("*.safetensors"))
    assert weights and all(f.stat().st_size <= 16 * 2**20 for f in weights)
    from safetensors import safe_open

    with safe_open(str(weights[0]), "pt") as handle:
        assert handle.get_tensor(next(iter(handle.keys()))).dtype == torch.float16
    manifest = json.loads((own_folder / "cascade.json").read_text())
    assert [s["resolution"] for s in manifest["stages"]] == [16, 32, 64]


def test_generic_sentence_encoder_conditions_the_stages(loaded):
    assert loaded.encoder.model.config.model_type == "bert"
    red, blue = (
        loaded.generate(p, seed=1, size=16, progress=False)[0] for p in ("a red star", "a blue ring")
    )
    assert not np.array_equal(np.asarray(red), np.asarray(blue))


def test_each_size_runs_only_the_stages_it_needs(loaded):
    for size in loaded.sizes:
        assert loaded.generate("a red star", seed=2, size=size, progress=False)[0].size == (size, size)
    assert len(loaded.plan(__import__("cascade").GenerationRequest(prompt="x", seed=0, size=32))) == 2


def test_loaded_unets_run_channels_last(loaded):
    for stage in loaded.stages:
        weight = stage.unet.conv_in.weight
        assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()


def test_save_then_load_in_float32_reproduces_images_exactly(loaded, tmp_path):
    loaded.save_pretrained(tmp_path / "copy", dtype=torch.float32)
    again = Cascade.from_pretrained(tmp_path / "copy", device="cpu")
    first = loaded.generate("two yellow triangles", seed=5, size=32, progress=False)[0]
    second = again.generate("two yellow triangles", seed=5, size=32, progress=False)[0]
    assert np.array_equal(np.asarray(first), np.asarray(second))


def test_stage_folders_load_in_diffusers_directly(own_folder):
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(own_folder / "stage_32px" / "unet")
    assert unet.config.in_channels == 6 and unet.config.class_embed_type == "timestep"


def test_cpu_offload_hooks_every_model_and_keeps_images_identical(own_folder):
    pipe = Cascade.from_pretrained(own_folder, device="cpu")
    before = pipe.generate("a red star", seed=9, size=64, progress=False)[0]
    pipe.enable_model_cpu_offload("cpu")
    assert all(hasattr(s.unet, "_hf_hook") for s in pipe.stages) and hasattr(pipe.encoder.model, "_hf_hook")
    pipe.encoder._cache.clear()
    after = pipe.generate("a red star", seed=9, size=64, progress=False)[0]
    assert np.array_equal(np.asarray(before), np.asarray(after))
