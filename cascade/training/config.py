"""What a training run is, as data: written next to its checkpoints and into the model card.

`TrainConfig` is one stage of the old recipe (`cascade train --stage`); `RecipeConfig` is a run of the new
one, every stage in one process (`cascade train --recipe new`, `cascade/training/multi_stage.py`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

STAGE_GEOMETRY = {
    # stage: (output resolution, input resolution or None, default training crop)
    "base": (64, None, 64),
    "sr256": (256, 64, 128),
    "sr1024": (1024, 256, 256),
}


# The new recipe's stages by default: batch size, and share of the time budget (the base stage's samples
# are what every later stage refines; super-resolution stages learn only t < 600 and mostly copy).
DEFAULT_BATCH_SIZES = {"base": 128, "sr256": 64, "sr1024": 32}
DEFAULT_SHARES = {"base": 2.0, "sr256": 1.0, "sr1024": 1.0}


class StageGeometry:
    """What the settings of one stage (either recipe) say about its sizes: the class's own fields
    `stage`, `resolution`, `input_resolution` and `crop`, the last three overriding `STAGE_GEOMETRY`."""

    stage: str
    resolution: int | None
    input_resolution: int | None
    crop: int | None

    def check_stage(self) -> None:
        if self.stage not in STAGE_GEOMETRY:
            raise ValueError(f"stage must be one of {sorted(STAGE_GEOMETRY)}, got {self.stage!r}")

    @property
    def geometry(self) -> tuple[int, int | None, int]:
        """(output resolution, input resolution, training crop) after overrides."""
        resolution, input_resolution, crop = STAGE_GEOMETRY[self.stage]
        return (self.resolution or resolution, self.input_resolution or input_resolution, self.crop or crop)

    @property
    def super_resolution(self) -> bool:
        return self.geometry[1] is not None


@dataclass(frozen=True)
class TrainConfig(StageGeometry):
    stage: str = "base"
    steps: int = 10_000
    batch_size: int = 32
    learning_rate: float = 2e-4
    width: int = 64
    levels: int = 3
    attention_from_level: int = 2  # self/cross attention only at low resolution: cheap, and enough for layout
    mid_attention: bool = True
    ema_decay: float = 0.999
    caption_dropout: float = 0.1  # drop to "" so classifier-free guidance has an unconditional model
    max_augmentation: int = 500  # SR stages: augmentation level drawn uniformly from [0, max) per sample
    snr_gamma: float = 5.0
    max_tokens: int = 32
    seed: int = 0
    checkpoint_every: int = 500
    data_workers: int = 0
    resolution: int | None = None  # override the stage geometry (tests use tiny sizes)
    input_resolution: int | None = None
    crop: int | None = None

    def __post_init__(self) -> None:
        self.check_stage()
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be >= 1")

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        return cls(**_known_fields(cls, json.loads(path.read_text())))


def _known_fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The saved values of `cls`'s fields: settings added since a run was written take their defaults."""
    return {f.name: data[f.name] for f in fields(cls) if f.name in data}


@dataclass(frozen=True)
class StageRecipe(StageGeometry):
    """One stage of a new-recipe run: its U-Net (`stage_unet` keyword arguments), batch and time share."""

    stage: str
    batch_size: int
    unet: dict[str, Any] = field(default_factory=dict)
    share: float = 1.0  # of the time budget, relative to the other stages
    steps: int | None = None  # fixed step count; None: planned from the budget and the measured step time
    resolution: int | None = None  # overrides of the stage geometry (tests use tiny sizes)
    input_resolution: int | None = None
    crop: int | None = None

    def __post_init__(self) -> None:
        self.check_stage()
        if self.batch_size < 1 or self.share <= 0 or (self.steps is not None and self.steps < 1):
            raise ValueError(f"stage {self.stage}: batch_size, share and steps must be positive")

    @property
    def space_to_depth(self) -> int:
        return int(self.unet.get("space_to_depth", 1))


@dataclass(frozen=True)
class RecipeConfig:
    """A new-recipe run: every stage trained by one process, until each has its steps or the budget ends.

    Either every stage has fixed `steps`, or none has and `budget_s` plans them (see `multi_stage.py`).
    """

    stages: tuple[StageRecipe, ...]
    budget_s: float | None = None  # training wall time, across resumes
    peak_lr: float = 5e-4
    warmup_steps: int = 100  # linear warm-up, then cosine decay to `final_lr` x peak at the planned end
    final_lr: float = 0.1
    ema_gamma: float = 7.0  # power-function EMA (EDM2): the average spans about the last 1 / (gamma + 1)
    snr_gamma: float = 5.0
    caption_dropout: float = 0.1  # the unconditional model that classifier-free guidance needs
    max_augmentation: int = 500  # super-resolution: augmentation level drawn uniformly from [0, max)
    sr_strength: float = 0.6  # super-resolution stages train on, and sample from, t < strength x T
    max_tokens: int = 96  # the longest caption the eval templates can build is 94 tokens (tested)
    seed: int = 0
    compile: bool | None = None  # torch.compile the U-Nets; None: on CUDA only
    data_workers: int = 0  # per stage: processes that draw scenes and tokenise captions
    log_every: int = 25  # steps of a stage between reads of its loss (each read waits for the device)
    checkpoint_every: int = 1000  # training steps of all stages together

    def __post_init__(self) -> None:
        object.__setattr__(self, "stages", tuple(self.stages))  # a list compares unequal to the loaded tuple
        if not self.stages or len({s.stage for s in self.stages}) != len(self.stages):
            raise ValueError("a recipe needs one or more distinct stages")
        fixed = [s.steps is not None for s in self.stages]
        if any(fixed) and not all(fixed):
            raise ValueError("give steps for every stage or for none (then budget_s plans them)")
        if not all(fixed) and self.budget_s is None:
            raise ValueError("without fixed steps a run needs budget_s to plan them")

    @property
    def planned_by_budget(self) -> bool:
        return self.stages[0].steps is None

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> RecipeConfig:
        data = _known_fields(cls, json.loads(path.read_text()))
        data["stages"] = tuple(StageRecipe(**_known_fields(StageRecipe, stage)) for stage in data["stages"])
        return cls(**data)
