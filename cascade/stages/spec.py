"""What a stage is, as data: the part of `cascade.json` (or an IF folder) that describes one stage."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from cascade.request import Thresholding
from cascade.sampling.solvers import first_step

STAGE_KINDS = ("base", "super_resolution", "latent_upscaler")
# How a super-resolution stage upsamples its input: IF's stage II aligns corners; half-pixel centres
# (`align_corners=False`) keep content in place at every scale, so our new recipe trains and samples that.
UPSAMPLING = ("align_corners", "half_pixel")


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
    # The fraction of the schedule a request runs (diffusers' img2img `strength`): below 1 the stage starts
    # from a noised image instead of pure noise: the upsampled input for super-resolution, `start_image`
    # (a PNG in the stage folder, e.g. the mean image of the training data) for a base stage.
    strength: float = 1.0
    start_image: str | None = None
    upsampling: str = "align_corners"
    # The U-Net runs on a pixel-unshuffled input (space-to-depth by this factor) and its output is
    # shuffled back: a 1024 px stage then convolves at 256 or 128 px, cheap enough for CPU inference.
    space_to_depth: int = 1
    # Output width and height must be multiples of this: the U-Net's down-sampling, times space_to_depth
    # or a latent stage's VAE factor. The model readers set it from the stage's configs.
    size_multiple: int = 1

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
        if not 0.0 < self.strength <= 1.0:
            raise ValueError(f"stage {self.name!r}: strength must be in (0, 1], got {self.strength}")
        if self.strength < 1.0 and self.kind == "latent_upscaler":
            raise ValueError(f"stage {self.name!r}: a latent upscaler runs its whole schedule (strength 1)")
        if self.start_image is not None and self.kind != "base":
            raise ValueError(f"stage {self.name!r}: start_image is for base stages only")
        if self.kind == "base" and self.strength < 1.0 and self.start_image is None:
            raise ValueError(f"stage {self.name!r}: a base stage with strength < 1 needs a start_image")
        if self.upsampling not in UPSAMPLING:
            raise ValueError(
                f"stage {self.name!r}: upsampling must be one of {UPSAMPLING}, got {self.upsampling!r}"
            )
        factor = self.space_to_depth
        if factor < 1 or factor & (factor - 1) or self.resolution % factor:
            raise ValueError(
                f"stage {self.name!r}: space_to_depth must be a power of two dividing the resolution, "
                f"got {factor}"
            )

        if (
            isinstance(self.size_multiple, bool)
            or not isinstance(self.size_multiple, int)
            or self.size_multiple < 1
        ):
            raise ValueError(
                f"stage {self.name!r}: size_multiple must be a positive integer, got {self.size_multiple!r}"
            )

    def to_json(self) -> dict[str, Any]:
        """The manifest entry: `size_multiple` is left out because readers derive it from the configs."""
        entry = asdict(self)
        del entry["size_multiple"]
        return entry


@dataclass(frozen=True)
class StageSettings:
    """The resolved settings one request runs a stage with."""

    steps: int
    guidance: float
    solver: str
    thresholding: Thresholding
    width: int  # the stage's output, at its scale of the request's size
    height: int
    noise_level: int | None = None
    strength: float = 1.0

    @property
    def steps_run(self) -> int:
        """The U-Net forwards a request makes here: all `steps`, or the last ones under strength < 1."""
        return self.steps - first_step(self.steps, self.strength)
