"""imagen-cascade: a cascaded pixel-space text-to-image engine (Imagen / DeepFloyd IF class).

`Cascade` (torch, diffusers) is imported when first used (cascade/lazy.py), so that `import cascade`,
the request types and `cascade --help` answer in well under a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cascade.errors import CascadeError, CheckpointError, InvalidRequestError, PromptRejected
from cascade.lazy import lazy_attributes
from cascade.options import ModelOptions, default_model_path
from cascade.request import GenerationRequest, GenerationResult, Thresholding

if TYPE_CHECKING:
    import PIL.Image

    from cascade.pipeline import Cascade

__all__ = [
    "Cascade",
    "CascadeError",
    "CheckpointError",
    "GenerationRequest",
    "GenerationResult",
    "InvalidRequestError",
    "ModelOptions",
    "PromptRejected",
    "Thresholding",
    "default_model_path",
    "generate",
]
__getattr__, __dir__ = lazy_attributes(__name__, {"Cascade": "cascade.pipeline"})

_loaded: dict[str, Cascade] = {}


def generate(prompt: str | list[str], **settings) -> list[PIL.Image.Image]:
    """`Cascade.generate` on the default model, loaded once per process."""
    from cascade.pipeline import Cascade

    path = str(default_model_path())
    if path not in _loaded:
        _loaded[path] = Cascade.from_pretrained(path)
    return _loaded[path].generate(prompt, **settings)
