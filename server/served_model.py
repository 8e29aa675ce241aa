"""What the server says about the model it serves: its id, its sizes, and the size a request gets by default.

`GET /v1/models` lists it in OpenAI's shape; the readiness log line names it; a request without `size`
gets `default_size`: the smallest size (the base stage alone) on a CPU, where each larger stage costs
minutes, and the largest on an accelerator, where the whole cascade is the point.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cascade import Cascade
from cascade.stages import StageSpec

OWNED_BY = "imagen-cascade"  # OpenAI's `owned_by`: who serves it; a local model has no vendor here


@dataclass(frozen=True)
class ServedModel:
    id: str  # the model folder's name (stage I's for an IF checkpoint), e.g. "IF-I-XL-v1.0"
    created: int  # Unix time the model folder was last modified
    sizes: tuple[int, ...]  # every side length the cascade makes, smallest first
    device: str  # "cpu", "cuda", ...: where the U-Nets run
    default_size: int
    specs: tuple[StageSpec, ...]  # the stages, for what planning derives without weights (upscale sizes)

    @classmethod
    def of(cls, cascade: Cascade) -> ServedModel:
        root = Path(cascade.spec.root)
        device = cascade.stages[0].device.type
        sizes = cascade.sizes
        specs = tuple(stage.spec for stage in cascade.stages)
        return cls(root.name, _modified(root), sizes, device, default_size(sizes, device), specs)

    def card(self) -> dict[str, object]:
        """OpenAI's model object, plus our `sizes` and `default_size` (as `size` strings)."""
        return {
            "id": self.id,
            "object": "model",
            "created": self.created,
            "owned_by": OWNED_BY,
            "sizes": size_names(self.sizes),
            "default_size": size_name(self.default_size),
        }


def default_size(sizes: tuple[int, ...], device: str) -> int:
    """The base stage's size on a CPU, the full cascade's anywhere else."""
    return min(sizes) if device == "cpu" else max(sizes)


def size_name(size: int) -> str:
    return f"{size}x{size}"


def size_names(sizes: tuple[int, ...]) -> list[str]:
    return [size_name(s) for s in sizes]


def _modified(folder: Path) -> int:
    try:
        return int(os.stat(folder).st_mtime)
    except OSError:
        return 0
