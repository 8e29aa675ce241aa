"""What a stage is, as data: the part of `cascade.json` (or an IF folder) that describes one stage."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from cascade.request import Thresholding

STAGE_KINDS = ("base", "super_resolution", "latent_upscaler")


@dataclass(frozen=True)
class StageSpec:
    """One stage's identity and its defaults; per-request settings override the defaults."""

    name: str
    kind: str
    path: str
    resolution: int
    steps: int
    guidance: float
    solver: str
    noise_level: int | None = None
    thresholding: dict[str, Any] = field(default_factory=lambda: {"mode": "dynamic"})
    use_encoder_mask: bool = True
    text_encoder: str | None = None  # a stage-local encoder folder (the SD x4 upscaler has its own CLIP)
    # What the weights can be sampled with, as the model card states it: requests outside are refused
    # with these values named. None: every solver; 1: any step count.
    solvers: tuple[str, ...] | None = None
    min_steps: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.solvers, list):  # from JSON
            object.__setattr__(self, "solvers", tuple(self.solvers))
        if self.solvers is not None and self.solver not in self.solvers:
            raise ValueError(
                f"stage {self.name!r}: default solver {self.solver!r} is not in solvers {self.solvers}"
            )
        if not 1 <= self.min_steps <= self.steps:
            raise ValueError(
                f"stage {self.name!r}: min_steps must be from 1 to steps ({self.steps}), got {self.min_steps}"
            )
        if self.kind not in STAGE_KINDS:
            raise ValueError(f"stage {self.name!r}: kind must be one of {STAGE_KINDS}, got {self.kind!r}")
        if (self.kind == "base") != (self.noise_level is None):
            raise ValueError(f"stage {self.name!r}: noise_level is required for super-resolution stages only")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StageSettings:
    """The resolved settings one request runs a stage with."""

    steps: int
    guidance: float
    solver: str
    thresholding: Thresholding
    noise_level: int | None = None
