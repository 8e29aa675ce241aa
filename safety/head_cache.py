"""A disk cache for the semantic layer's fitted classifier, so a process starts in about a second.

Fitting embeds every exemplar and dev-split prompt (over a thousand encoder calls, one at a time for
batch invariance): seconds on a quiet CPU, far more on a busy one, in every process that loads the
filter.
The fitted weights depend only on the exemplars, the encoder and how it runs, so they are stored under
a key hashed from exactly those (`safety.disk_cache`). A changed exemplar file or encoder gives a new
key and a fresh fit; an unwritable cache only costs the refit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from safety.disk_cache import cache_dir, entry, store

__all__ = ["cache_dir", "cached_head"]

logger = logging.getLogger(__name__)

Head = tuple[torch.Tensor, torch.Tensor]


def cached_head(sources: list[bytes], fit: Callable[[], Head]) -> Head:
    """The (weight, bias) stored for `sources`, or `fit()`'s result, stored for next time."""
    path = entry("safety-head", sources, ".safetensors")
    if path.is_file():
        try:
            tensors = load_file(path)
            return tensors["weight"], tensors["bias"]
        except (
            OSError,
            KeyError,
            ValueError,
            SafetensorError,
        ) as error:  # a damaged file: fit again and replace it
            logger.warning("ignoring the cached safety classifier %s: %s", path, error)
    weight, bias = fit()
    store(path, lambda name: save_file({"weight": weight.contiguous(), "bias": bias.contiguous()}, name))
    return weight, bias
