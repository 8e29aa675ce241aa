"""The typed request boundary: what a caller asks for, validated before any model work."""

from __future__ import annotations

import math
import secrets
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import PIL.Image

from cascade.errors import InvalidRequestError, shown
from cascade.sampling.solvers import SOLVERS
from safety.verdict import SafetyVerdict

MAX_STEPS = 1000
MAX_GUIDANCE = 100.0
MAX_PROMPT_CHARS = 4000
MAX_IMAGE_PIXELS = 4096 * 4096  # an input image (img2img); it is resized to the base stage's size
MAX_ASPECT_RATIO = 4  # long side over short side: IF's U-Nets saw square crops; 4:1 covers panoramas
IMG2IMG_STRENGTH = 0.7  # diffusers' IF img2img default: 70% of the schedule runs
IMG2IMG_SR_STRENGTH = 0.8  # and its super-resolution img2img default (IFImg2ImgSuperResolutionPipeline)
INPAINTING_STRENGTH = 1.0  # diffusers' IF inpainting default: the whole schedule, inside the mask
THRESHOLDING_MODES = ("dynamic", "static", "none")
# Unicode categories that draw nothing: controls (NUL included), format characters (zero-width
# spaces and joiners, BOM), and separators (spaces, line and paragraph separators).
INVISIBLE = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})

PerStage = float | Sequence[float] | None


@dataclass(frozen=True)
class Thresholding:
    """How x0 predictions are kept in range: Imagen's dynamic thresholding, static clipping, or nothing."""

    mode: str = "dynamic"
    percentile: float = 0.995
    max_value: float = 1.5

    def __post_init__(self) -> None:
        if self.mode not in THRESHOLDING_MODES:
            raise InvalidRequestError(
                "thresholding", f"must be one of {THRESHOLDING_MODES}, got {shown(self.mode)}"
            )
        if not 0.0 < self.percentile <= 1.0:
            raise InvalidRequestError("thresholding.percentile", f"must be in (0, 1], got {self.percentile}")
        if not (math.isfinite(self.max_value) and self.max_value >= 1.0):
            raise InvalidRequestError(
                "thresholding.max_value", f"must be a number >= 1, got {self.max_value}"
            )


@dataclass(frozen=True)
class GenerationRequest:
    """One image to make. Per-stage fields take one value for every stage or one value per stage."""

    prompt: str
    seed: int
    # the output: a side for a square, or (width, height); its short side is a stage's size (module doc
    # of cascade.planning), and (s, s) is stored as s so that both spellings are one request
    size: int | tuple[int, int] = 64
    negative_prompt: str | None = None
    steps: int | Sequence[int] | None = None
    guidance: PerStage = None
    noise_level: int | Sequence[int] | None = None
    solver: str | None = None
    thresholding: Thresholding | None = None
    # img2img: the base and super-resolution stages start from this image (at their sizes), noised to
    # the timestep `strength` of the way up their schedules (diffusers' rule; the SD x4 upscaler runs
    # its own whole schedule); unhashed, the other fields tell requests apart well enough.
    image: PIL.Image.Image | None = field(default=None, hash=False)
    strength: float | None = None
    # inpainting: white (>= 50% grey) pixels of the mask are repainted, the rest keep `image` exactly
    mask: PIL.Image.Image | None = field(default=None, hash=False)
    # upscaling (`Cascade.upscale`): `image` is the low-resolution input of the super-resolution stages
    # instead of a start for the base stage; the prompt may then be empty
    upscale: bool = False

    def __post_init__(self) -> None:
        for name in ("steps", "guidance", "noise_level"):  # JSON lists arrive as lists: keep it hashable
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "size", checked_size(self.size))
        check_prompt("prompt", self.prompt, allow_empty=self.upscale)
        if self.negative_prompt is not None:
            check_prompt("negative_prompt", self.negative_prompt, allow_empty=True)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise InvalidRequestError("seed", f"must be an integer in [0, 2**63), got {shown(self.seed)}")
        for value in _as_list(self.steps):
            check_steps(value)
        for value in _as_list(self.guidance):
            check_guidance(value)
        for value in _as_list(self.noise_level):
            check_noise_level(value)
        if self.solver is not None and self.solver not in SOLVERS:
            raise InvalidRequestError("solver", f"must be one of {sorted(SOLVERS)}, got {shown(self.solver)}")
        if self.image is not None:
            check_input_image("image", self.image)
        if self.strength is not None:
            check_strength(self.strength, has_image=self.image is not None)
        if self.upscale and self.image is None:
            raise InvalidRequestError("image", "upscaling needs the image to upscale")
        if self.mask is not None:
            check_input_image("mask", self.mask)
            if self.image is None:
                raise InvalidRequestError("mask", "marks what to repaint in an image: give image too")
            if self.upscale:
                raise InvalidRequestError("mask", "applies to the base stage; upscaling takes no mask")
            if self.mask.size != self.image.size:
                expected, got = size_text(self.image.size), size_text(self.mask.size)
                raise InvalidRequestError("mask", f"must be the image's size, {expected}, got {got}")

    @property
    def width(self) -> int:
        return self.size if isinstance(self.size, int) else self.size[0]

    @property
    def height(self) -> int:
        return self.size if isinstance(self.size, int) else self.size[1]

    @property
    def short_side(self) -> int:
        """The side that names the request's last stage: its resolution."""
        return min(self.width, self.height)


@dataclass(frozen=True)
class GenerationResult:
    """One finished image, with the verdict its prompt was admitted on."""

    request: GenerationRequest
    image: PIL.Image.Image
    prompt_truncated: bool
    verdict: SafetyVerdict


def image_seeds(seed: object, count: int) -> list[int]:
    """The seeds of one call's `count` images: seed + i, from a random base when `seed` is None."""
    base = secrets.randbelow(2**62) if seed is None else seed
    if isinstance(base, bool) or not isinstance(base, int):
        raise InvalidRequestError("seed", f"must be an integer, got {shown(seed)}")
    return [base + i for i in range(count)]


def check_prompt(name: str, prompt: object, *, allow_empty: bool = False) -> None:
    """A prompt is a string of bounded length that a tokenizer can take, with something visible in it
    (unless `allow_empty`); nothing is coerced. Checked here, at the boundary, because a text the
    tokenizer refuses would otherwise fail inside a batched encoder call, with its neighbours."""
    if not isinstance(prompt, str):
        raise InvalidRequestError(name, f"must be a string, got {type(prompt).__name__}")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequestError(name, f"must be at most {MAX_PROMPT_CHARS} characters, got {len(prompt)}")
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidRequestError(
            name, f"is not valid Unicode text: a lone surrogate at character {error.start}"
        ) from None
    if not allow_empty and not any(unicodedata.category(char) not in INVISIBLE for char in prompt):
        raise InvalidRequestError(name, "must not be empty or only whitespace and invisible characters")


def check_steps(steps: object) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise InvalidRequestError("steps", f"must be an integer from 1 to {MAX_STEPS}, got {shown(steps)}")


def check_guidance(guidance: object) -> None:
    ok = isinstance(guidance, int | float) and not isinstance(guidance, bool)
    if not ok or not math.isfinite(guidance) or not 0.0 <= guidance <= MAX_GUIDANCE:
        raise InvalidRequestError(
            "guidance", f"must be a finite number from 0 to {MAX_GUIDANCE}, got {shown(guidance)}"
        )


def check_noise_level(level: object) -> None:
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level < 1000:
        raise InvalidRequestError("noise_level", f"must be an integer from 0 to 999, got {shown(level)}")


def per_stage(name: str, value: object, index: int, count: int) -> object:
    """Pick stage `index`'s value from one shared value or a list of exactly `count` values."""
    if value is None or not isinstance(value, Sequence) or isinstance(value, str):
        return value
    if len(value) != count:
        raise InvalidRequestError(
            name, f"give one value or one per stage ({count} stages run), got {len(value)}"
        )
    return value[index]


def parse_per_stage(text: str, cast: Callable[[str], Any]) -> Any:
    """`50` or `50,25,25`: one value for every stage, or one per stage (raises ValueError)."""
    values = [cast(part.strip()) for part in text.split(",")]
    return values[0] if len(values) == 1 else tuple(values)


def _as_list(value: object) -> list[object]:
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return [value]


def checked_size(size: object) -> int | tuple[int, int]:
    """A size as the request keeps it: a positive side, or a (width, height) pair of them within
    `MAX_ASPECT_RATIO`, with a square pair as its side. Whether the model makes it is planning's call."""
    pair = list(size) if isinstance(size, list | tuple) else None
    sides = pair if pair is not None else [size]
    if len(sides) not in (1, 2) or not all(
        isinstance(side, int) and not isinstance(side, bool) and side > 0 for side in sides
    ):
        raise InvalidRequestError(
            "size", f"must be a positive integer or a (width, height) pair of them, got {shown(size)}"
        )
    width, height = sides[0], sides[-1]
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise InvalidRequestError(
            "size", f"must be at most {MAX_ASPECT_RATIO}:1 long side to short side, got {width}x{height}"
        )
    return width if width == height else (width, height)


def parse_size(text: str) -> int | tuple[int, int]:
    """`1024` or `1536x1024` (width x height), as the CLI, prompt files and the HTTP API spell a size."""
    try:
        sides = tuple(int(part) for part in text.strip().lower().split("x"))
    except ValueError:
        sides = ()
    if len(sides) not in (1, 2):
        raise InvalidRequestError(
            "size", f"must be N or WxH in pixels, e.g. 1024 or 1536x1024, got {shown(text)}"
        )
    return checked_size(sides[0] if len(sides) == 1 else sides)


def size_text(size: int | tuple[int, int]) -> str:
    """A size as OpenAI's API names it: `1024x1024`, `1536x1024`."""
    width, height = (size, size) if isinstance(size, int) else size
    return f"{width}x{height}"


def check_input_image(name: str, image: object) -> None:
    """An input image: a PIL image of at most `MAX_IMAGE_PIXELS`, of any shape (it is resized to the
    request's size at each stage, as diffusers' IF pipelines resize theirs)."""
    if not isinstance(image, PIL.Image.Image):
        raise InvalidRequestError(name, f"must be a PIL image, got {type(image).__name__}")
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS or min(width, height) < 1:
        raise InvalidRequestError(name, f"must have 1 to {MAX_IMAGE_PIXELS} pixels, got {width}x{height}")


def check_strength(value: object, *, has_image: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < value <= 1.0:
        raise InvalidRequestError("strength", f"must be a number in (0, 1], got {shown(value)}")
    if not has_image:
        raise InvalidRequestError("strength", "applies to an input image: give image too")
