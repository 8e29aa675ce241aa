"""The world datasets yield the same (image, caption) for the same (seed, index), in the trainer's format."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.utils.data import DataLoader

from cascade.data.dataset import WorldDataset, WorldStream
from cascade.data.draw import render
from cascade.images import pil_to_tensor


def test_samples_are_deterministic_in_seed_and_index():
    first, again = WorldDataset(64, seed=3)[17], WorldDataset(64, seed=3)[17]
    assert torch.equal(first[0], again[0]) and first[1] == again[1]
    assert WorldDataset(64, seed=4)[17][1] != first[1] or not torch.equal(
        WorldDataset(64, seed=4)[17][0], first[0]
    )
    assert not torch.equal(WorldDataset(64, seed=3)[18][0], first[0])


@pytest.mark.parametrize(("resolution", "crop", "side"), [(64, None, 64), (256, 128, 128), (256, 256, 256)])
def test_samples_have_the_requested_shape_and_range(resolution, crop, side):
    image, text = WorldDataset(resolution, crop)[2]
    assert image.shape == (3, side, side) and image.dtype == torch.float32
    assert image.min() >= -1.0 and image.max() <= 1.0
    assert isinstance(text, str) and text


def test_a_crop_is_a_window_of_the_full_render():
    dataset = WorldDataset(256, 96, seed=1)
    scene, described = dataset.describe(5)
    crop, text = dataset[5]
    full = pil_to_tensor(render(scene, 256))[0]
    windows = full.unfold(1, 96, 1).unfold(2, 96, 1)  # (3, rows, cols, 96, 96)
    matches = (windows == crop[:, None, None]).flatten(3).all(dim=3).all(dim=0)
    assert matches.any() and text == described.text


def test_eval_split_dataset_uses_eval_templates_only():
    dataset = WorldDataset(64, split="eval")
    assert all(dataset.describe(i)[1].template.startswith("eval/") for i in range(50))


def test_stream_workers_shard_by_index_without_repeats():
    dataset = WorldDataset(32, seed=2)
    loader = DataLoader(WorldStream(dataset), batch_size=None, num_workers=2)
    streamed = [text for _, text in itertools.islice(loader, 6)]
    assert streamed == [dataset.describe(i)[1].text for i in range(6)]
