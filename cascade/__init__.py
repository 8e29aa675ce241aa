"""imagen-cascade: a cascaded pixel-space text-to-image engine (Imagen / DeepFloyd IF class)."""

from __future__ import annotations

import PIL.Image

from cascade.errors import CascadeError, CheckpointError, InvalidRequestError
from cascade.options import ModelOptions, default_model_path
from cascade.pipeline import Cascade
from cascade.request import GenerationRequest, GenerationResult, Thresholding

__all__ = [
    "Cascade",
    "CascadeError",
    "CheckpointError",
    "GenerationRequest",
    "GenerationResult",
    "InvalidRequestError",
    "ModelOptions",
    "Thresholding",
    "default_model_path",
    "generate",
]

_loaded: dict[str, Cascade] = {}


def generate(prompt: str | list[str], **settings) -> list[PIL.Image.Image]:
    """`Cascade.generate` on the default model, loaded once per process."""
    path = str(default_model_path())
    if path not in _loaded:
        _loaded[path] = Cascade.from_pretrained(path)
    return _loaded[path].generate(prompt, **settings)
