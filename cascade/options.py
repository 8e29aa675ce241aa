"""Which model to load and how, and the sampling flags: one definition for `generate`, `render`, `serve`.

`ModelOptions` is the typed object every path loads a model from (the CLI builds it from flags, Ray
workers receive it pickled), so IF stage folders, device, dtype, threads and fixed forward rows work
the same everywhere.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cascade.checkpoint import CascadeSpec, read_model_spec
from cascade.errors import CheckpointError, InvalidRequestError
from cascade.request import parse_per_stage, parse_size
from cascade.sampling.solvers import SOLVERS

if TYPE_CHECKING:
    from cascade.pipeline import Cascade

SHIPPED_MODEL = Path(__file__).parent / "models" / "demo"


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


@dataclass(frozen=True)
class ModelOptions:
    """A model folder (ours, or IF stage I with optional II and III) and how to run it."""

    model: Path | None = None  # None: default_model_path()
    stage_II: Path | None = None
    stage_III: Path | None = None
    device: str | None = None
    dtype: str | None = None
    threads: int | None = None
    forward_rows: int = 0  # 0: plain forwards; N: every U-Net forward on exactly N rows (fixed_rows.py)

    @property
    def path(self) -> Path:
        return Path(self.model or default_model_path()).resolve()

    def spec(self) -> CascadeSpec:
        """The model's stages from its JSON files, with no weights loaded (for planning)."""
        return read_model_spec(self.path, self.stage_II, self.stage_III)

    def load(self, **kwargs: Any) -> Cascade:
        """The loaded cascade; `kwargs` go to `Cascade.from_pretrained` (e.g. `safeguards`)."""
        import torch

        from cascade.engine import fix_forward_rows
        from cascade.pipeline import Cascade

        if self.threads:
            torch.set_num_threads(self.threads)
        cascade = Cascade.from_pretrained(
            self.path,
            stage_II=self.stage_II,
            stage_III=self.stage_III,
            device=self.device,
            dtype=self.dtype,
            **kwargs,
        )
        if self.forward_rows:
            fix_forward_rows(cascade.stages, self.forward_rows)
        return cascade


def add_model_arguments(parser: argparse.ArgumentParser, *, forward_rows: int) -> None:
    """The model flags; `forward_rows` is the command's default (see docs/ENGINE.md, batch invariance)."""
    group = parser.add_argument_group("model")
    add = group.add_argument
    add("--model", type=Path, help="model folder (default: $CASCADE_MODEL or the shipped demo)")
    add("--stage-II", dest="stage_II", type=Path, help="IF stage II folder (with an IF stage I --model)")
    add("--stage-III", dest="stage_III", type=Path, help="IF stage III (x4 upscaler) folder")
    add("--device", help="cpu or cuda (default: cuda when available)")
    add("--dtype", help="float32, bfloat16 or float16 (default: float32 on cpu, bfloat16 on cuda)")
    add("--threads", type=at_least(1), help="torch CPU threads (default: torch's choice)")
    add(
        "--forward-rows",
        type=at_least(0),
        default=forward_rows,
        help="run every U-Net forward on exactly this many rows, so an image's bytes never depend on "
        f"what shares its batch (costs padding; 0 = off; default {forward_rows})",
    )


def model_options(args: argparse.Namespace) -> ModelOptions:
    return ModelOptions(
        model=args.model,
        stage_II=args.stage_II,
        stage_III=args.stage_III,
        device=args.device,
        dtype=args.dtype,
        threads=args.threads,
        forward_rows=args.forward_rows,
    )


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    """What an image is made with, beyond its prompt and seed."""
    add = parser.add_argument
    add(
        "--size",
        type=size_argument,
        default=64,
        help="output size in pixels: N or WxH, with a short side of a stage's size (64, 256 or 1024 for "
        "the demo model; e.g. 1536x1024); default 64",
    )
    add("--steps", type=per_stage(int), help="denoising steps: one value or one per stage")
    add("--guidance", type=per_stage(float), help="guidance scale: one value or one per stage")
    add("--negative-prompt", help="what to steer away from")
    add("--solver", choices=sorted(SOLVERS), help="default: the one saved per stage")


def size_argument(text: str) -> int | tuple[int, int]:
    """An argparse type for `1024` or `1536x1024`."""
    try:
        return parse_size(text)
    except InvalidRequestError as error:
        raise argparse.ArgumentTypeError(error.message) from None


def per_stage(cast: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type for `50` or `50,25,25` (one value for every stage, or one per stage)."""

    def parse(text: str) -> Any:
        try:
            return parse_per_stage(text, cast)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a number or comma-separated numbers, got {text!r}"
            ) from None

    return parse


def positive_number(text: str) -> float:
    """An argparse type for a finite number above zero (seconds, rates)."""
    value = _number(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text}")
    return value


def non_negative_number(text: str) -> float:
    """An argparse type for a finite number of at least zero (a share of a device)."""
    value = _number(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a number of at least 0, got {text}")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type for an integer of at least `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse
