"""Torch datasets over the procedural world: (image in [-1, 1], caption) as a pure function of
(seed, index), so any worker can build any sample and a resumed run sees the same data."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from cascade.data.captions import Caption, Split, caption
from cascade.data.draw import render
from cascade.data.sampler import sample_scene
from cascade.data.scene import Scene
from cascade.images import pil_to_tensor


class WorldDataset(Dataset):
    """Item `index` is the scene drawn from (seed, index), rendered at `resolution` and, when `crop` is
    set, cut to a `crop` x `crop` window at a place also drawn from (seed, index).

    Items are (image tensor (3, side, side) float32 in [-1, 1], caption text), which is the trainer's
    `SampleFn`; `__len__` is nominal (the world is unbounded) and only bounds samplers.
    """

    def __init__(
        self,
        resolution: int = 64,
        crop: int | None = None,
        seed: int = 0,
        split: Split = "train",
        length: int = 1_000_000,
    ) -> None:
        if crop is not None and not 0 < crop <= resolution:
            raise ValueError(f"crop must be in (0, {resolution}], got {crop}")
        self.resolution, self.crop, self.seed, self.split, self.length = resolution, crop, seed, split, length

    def __len__(self) -> int:
        return self.length

    def describe(self, index: int) -> tuple[Scene, Caption]:
        """The ground truth and caption of item `index`, without rendering it."""
        rng = np.random.default_rng([self.seed, index])
        scene = sample_scene(rng)
        return scene, caption(scene, rng, self.split)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str]:
        scene, described = self.describe(index)
        image = render(scene, self.resolution)
        if self.crop is not None and self.crop < self.resolution:
            # A generator of its own, so the crop never shifts the scene or caption draws.
            left, top = np.random.default_rng([self.seed, index, 1]).integers(
                0, self.resolution - self.crop + 1, 2
            )
            image = image.crop((int(left), int(top), int(left) + self.crop, int(top) + self.crop))
        return pil_to_tensor(image)[0], described.text


class WorldStream(IterableDataset):
    """An endless stream of `dataset` items from index `start` on; each DataLoader worker takes every
    `num_workers`-th index, so workers never repeat each other's samples."""

    def __init__(self, dataset: WorldDataset, start: int = 0) -> None:
        self.dataset, self.start = dataset, start

    def __iter__(self) -> Iterator[tuple[torch.Tensor, str]]:
        worker = get_worker_info()
        shard, shards = (0, 1) if worker is None else (worker.id, worker.num_workers)
        index = self.start + shard
        while True:
            yield self.dataset[index]
            index += shards
