"""Stages on space-to-depth inputs: the U-Net sees the image pixel-unshuffled, the engine sees images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from cascade.architectures import stage_unet
from cascade.checkpoint import MANIFEST
from cascade.pipeline import Cascade
from cascade.stages import space_to_depth
from cascade.training.stage_sizes import untrained_cascade

# A 16 px base packed by 2 and a 32 px super-resolution stage packed by 4: both U-Nets run at 8 px.
TINY_SIZES = {
    "base": {"width": 16, "levels": 2, "space_to_depth": 2},
    "sr256": {"width": 16, "levels": 2, "space_to_depth": 4},
}
TINY_RESOLUTIONS = {"base": 16, "sr256": 32}


@pytest.fixture(scope="module")
def packed_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("packed") / "model"
    untrained_cascade(TINY_SIZES, TINY_RESOLUTIONS, max_tokens=16).save_pretrained(folder)
    return folder


def test_stage_unet_packs_f_squared_channels_at_one_fth_the_size() -> None:
    unet = stage_unet(
        resolution=32, text_width=32, width=16, levels=2, super_resolution=True, space_to_depth=4
    )
    assert (unet.config.sample_size, unet.config.in_channels, unet.config.out_channels) == (8, 96, 48)


def test_stage_unet_refuses_a_factor_that_does_not_divide_the_resolution() -> None:
    with pytest.raises(ValueError, match="does not divide"):
        stage_unet(resolution=24, text_width=32, width=16, levels=2, space_to_depth=16)


def test_forward_is_unshuffle_then_unet_then_shuffle() -> None:
    torch.manual_seed(0)
    unet = stage_unet(resolution=16, text_width=32, width=16, levels=2, space_to_depth=2).eval()
    sample, timesteps = torch.randn(2, 3, 16, 16), torch.tensor([10, 900])
    kwargs = {"encoder_hidden_states": torch.randn(2, 5, 32)}
    with torch.inference_mode():
        manual = F.pixel_shuffle(unet(F.pixel_unshuffle(sample, 2), timesteps, **kwargs).sample, 2)
        packed = space_to_depth.forward(unet, 2, sample, timesteps, **kwargs)
    assert packed.shape == sample.shape
    torch.testing.assert_close(packed, manual, rtol=0, atol=0)


def test_space_to_depth_round_trips_through_the_model_folder(packed_folder: Path, tmp_path: Path) -> None:
    manifest = json.loads((packed_folder / MANIFEST).read_text())
    assert [stage["space_to_depth"] for stage in manifest["stages"]] == [2, 4]
    loaded = Cascade.from_pretrained(packed_folder)
    assert [stage.spec.space_to_depth for stage in loaded.stages] == [2, 4]
    assert [stage.unet.config.sample_size for stage in loaded.stages] == [8, 8]
    loaded.save_pretrained(tmp_path / "again")
    assert json.loads((tmp_path / "again" / MANIFEST).read_text())["stages"] == manifest["stages"]


@pytest.mark.parametrize("size", [16, 32])
def test_packed_stages_generate_images_of_the_requested_size(packed_folder: Path, size: int) -> None:
    cascade = Cascade.from_pretrained(packed_folder)
    image = cascade.generate("a red star above a blue ring", seed=1, size=size, steps=2, progress=False)[0]
    assert image.size == (size, size)
