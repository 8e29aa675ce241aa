"""A disk cache for the semantic layer's fitted classifier, so a process starts in about a second.

Fitting embeds every exemplar prompt (over a thousand MiniLM forwards, one at a time for batch
invariance): seconds on a quiet CPU, far more on a busy one, in every process that loads the filter.
The fitted weights depend only on the exemplars, the encoder and how it runs, so they are stored under
a key hashed from exactly those, in `$CASCADE_CACHE` (default `~/.cache/imagen-cascade`). A changed
exemplar file or encoder gives a new key and a fresh fit; an unwritable cache only costs the refit.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

__all__ = ["cache_dir", "cached_head"]

logger = logging.getLogger(__name__)

Head = tuple[torch.Tensor, torch.Tensor]


def cache_dir() -> Path:
    return Path(os.environ.get("CASCADE_CACHE") or Path.home() / ".cache" / "imagen-cascade")


def cached_head(sources: list[bytes], fit: Callable[[], Head]) -> Head:
    """The (weight, bias) stored for `sources`, or `fit()`'s result, stored for next time."""
    digest = hashlib.sha256()
    for part in sources:
        digest.update(hashlib.sha256(part).digest())
    path = cache_dir() / f"safety-head-{digest.hexdigest()[:32]}.safetensors"
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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as temp:
            save_file({"weight": weight.contiguous(), "bias": bias.contiguous()}, temp.name)
        os.replace(temp.name, path)
    except OSError as error:
        logger.info("could not cache the safety classifier in %s: %s", path.parent, error)
    return weight, bias
