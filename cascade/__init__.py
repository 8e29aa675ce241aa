"""imagen-cascade: a cascaded pixel-space text-to-image engine (Imagen / DeepFloyd IF class)."""

from __future__ import annotations

import os
from pathlib import Path

import PIL.Image

from cascade.errors import CascadeError, CheckpointError, InvalidRequestError
from cascade.pipeline import Cascade, GenerationResult
from cascade.request import GenerationRequest, Thresholding

__all__ = [
    "Cascade",
    "CascadeError",
    "CheckpointError",
    "GenerationRequest",
    "GenerationResult",
    "InvalidRequestError",
    "Thresholding",
    "default_model_path",
    "generate",
]

SHIPPED_MODEL = Path(__file__).parent / "models" / "demo"
_loaded: dict[str, Cascade] = {}


def default_model_path() -> Path:
    """`$CASCADE_MODEL` if set, else the demo cascade shipped inside the package."""
    path = Path(os.environ.get("CASCADE_MODEL", SHIPPED_MODEL))
    if not path.is_dir():
        raise CheckpointError(
            path,
            "no default model is installed here; pass a model folder "
            "(--model PATH / Cascade.from_pretrained) or set CASCADE_MODEL",
        )
    return path


def generate(prompt: str | list[str], **settings) -> list[PIL.Image.Image]:
    """`Cascade.generate` on the default model, loaded once per process."""
    path = str(default_model_path())
    if path not in _loaded:
        _loaded[path] = Cascade.from_pretrained(path)
    return _loaded[path].generate(prompt, **settings)
