"""What a training run is, as data: written next to its checkpoints and into the model card."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

STAGE_GEOMETRY = {
    # stage: (output resolution, input resolution or None, default training crop)
    "base": (64, None, 64),
    "sr256": (256, 64, 128),
    "sr1024": (1024, 256, 256),
}


@dataclass(frozen=True)
class TrainConfig:
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
        if self.stage not in STAGE_GEOMETRY:
            raise ValueError(f"stage must be one of {sorted(STAGE_GEOMETRY)}, got {self.stage!r}")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be >= 1")

    @property
    def geometry(self) -> tuple[int, int | None, int]:
        """(output resolution, input resolution, training crop) after overrides."""
        resolution, input_resolution, crop = STAGE_GEOMETRY[self.stage]
        return (self.resolution or resolution, self.input_resolution or input_resolution, self.crop or crop)

    @property
    def super_resolution(self) -> bool:
        return self.geometry[1] is not None

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        data = json.loads(path.read_text())
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})
