"""A request's plan: the stages its size needs, each with the request's settings over the stage defaults.

A plain function of the stage specs and the request, so that rendering can validate and fingerprint
jobs from a model's JSON files without loading any weights.

Sizes: the short side of a request's size is the resolution of its last stage, and every stage before
it runs the same shape at its own scale (IF: 1536x1024 is 96x64 at stage I, 384x256 at stage II and
1536x1024 at stage III), so each stage sees the short side it was trained at. The long side must give
whole sides at every stage that its U-Net's down-sampling divides (`StageSpec.size_multiple`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import PIL.Image

from cascade.errors import InvalidRequestError, shown
from cascade.request import (
    IMG2IMG_SR_STRENGTH,
    IMG2IMG_STRENGTH,
    INPAINTING_STRENGTH,
    MAX_ASPECT_RATIO,
    GenerationRequest,
    Thresholding,
    per_stage,
    size_text,
)
from cascade.stages import StageSettings, StageSpec

StagePlan = list[tuple[StageSpec, StageSettings]]


def plan_request(specs: Sequence[StageSpec], request: GenerationRequest) -> StagePlan:
    """The stages that `request` runs (`specs[first_stage:]` up to its size), with its resolved settings
    per stage; per-stage lists in the request count the stages that run."""
    shapes = stage_shapes(specs, request)
    start = first_stage(specs, request)
    stages = specs[start : len(shapes)]
    upscalers = [spec for spec in stages if spec.noise_level is not None]
    plan = []
    for index, spec in enumerate(stages):
        width, height = shapes[start + index]
        steps = per_stage("steps", request.steps, index, len(stages))
        guidance = per_stage("guidance", request.guidance, index, len(stages))
        noise_level = spec.noise_level
        if spec.noise_level is not None:
            noise_level = per_stage("noise_level", request.noise_level, upscalers.index(spec), len(upscalers))
        settings = StageSettings(
            steps=spec.steps if steps is None else steps,
            guidance=spec.guidance if guidance is None else float(guidance),
            solver=request.solver or spec.solver,
            thresholding=request.thresholding or Thresholding(**spec.thresholding),
            width=width,
            height=height,
            noise_level=spec.noise_level if noise_level is None else noise_level,
            strength=stage_strength(spec, request, first=index == 0),
        )
        check_supported(spec, settings)
        plan.append((spec, settings))
    return plan


def last_stage(specs: Sequence[StageSpec], request: GenerationRequest) -> int:
    """The index of the stage whose resolution is the request's short side."""
    sizes = [spec.resolution for spec in specs]
    if request.short_side in sizes:
        return sizes.index(request.short_side)
    if request.width == request.height:
        squares = [size_text(size) for size in sizes]
        raise InvalidRequestError(
            "size",
            f"must be one of {squares} for this model, or non-square with a short side of one of {sizes}, "
            f"got {size_text(request.size)}",
        )
    raise InvalidRequestError(
        "size",
        f"must have a short side of one of {sizes} (a stage's size) for this model, "
        f"got {size_text(request.size)}",
    )


def stage_shapes(specs: Sequence[StageSpec], request: GenerationRequest) -> list[tuple[int, int]]:
    """(width, height) of every stage up to the request's last, each at its own scale."""
    last = last_stage(specs, request)
    top = specs[last].resolution
    shapes = [
        (request.width * spec.resolution // top, request.height * spec.resolution // top)
        for spec in specs[: last + 1]
    ]
    step = long_side_multiple(specs[: last + 1], top)
    if request.width != request.height and max(request.width, request.height) % step:
        raise InvalidRequestError(
            "size",
            f"its long side must be a multiple of {step} with a {top} px short side on this model "
            f"(whole sides that every stage's U-Net divides), got {size_text(request.size)}",
        )
    return shapes


def long_side_multiple(specs: Sequence[StageSpec], top: int) -> int:
    """What the long side at resolution `top` must be a multiple of, so that every stage in `specs` gets
    a whole long side that its `size_multiple` divides: side * resolution / top in multiple * Z."""
    steps = [
        spec.size_multiple * top // math.gcd(spec.resolution, spec.size_multiple * top) for spec in specs
    ]
    return math.lcm(*steps)


def first_stage(specs: Sequence[StageSpec], request: GenerationRequest) -> int:
    """The index of the first stage `request` runs: 0, or for an upscale the stage whose input size is
    the largest one the image covers (a 256 px picture asked for 1024 px starts at stage III), never
    past the stage of the requested size. The image is resized to that input size."""
    if not request.upscale:
        return 0
    sizes = [spec.resolution for spec in specs]
    target = last_stage(specs, request)
    if target == 0:
        raise InvalidRequestError(
            "size", f"upscaling needs a size above the base stage's {sizes[0]} px; this model has {sizes}"
        )
    side = min(request.image.size)
    covered = [index for index in range(1, target + 1) if sizes[index - 1] <= side]
    return max(covered, default=1)


def upscale_size(specs: Sequence[StageSpec], image: PIL.Image.Image) -> int | tuple[int, int]:
    """An upscale's default size: one stage above the largest stage input the image covers, in the
    image's aspect ratio (its long side rounded to a size the model makes)."""
    sizes = [spec.resolution for spec in specs]
    short, long = sorted(image.size)
    above = [size for size in sizes[1:] if size > short]
    top = above[0] if above else sizes[-1]
    step = long_side_multiple(specs[: sizes.index(top) + 1], top)
    ratio = min(long / short, MAX_ASPECT_RATIO)
    widest = step * (MAX_ASPECT_RATIO * top // step)
    side = max(min(step * round(top * ratio / step), widest), top)
    if side == top:
        return top
    return (side, top) if image.width > image.height else (top, side)


def starts_from_picture(spec: StageSpec, request: GenerationRequest) -> bool:
    """img2img and inpainting: the base and pixel super-resolution stages start from the request's
    picture at their own size (IF's img2img and inpainting pipelines, stage I and II)."""
    if request.image is None or request.upscale:
        return False
    return spec.kind != "latent_upscaler"


def stage_strength(spec: StageSpec, request: GenerationRequest, *, first: bool) -> float:
    """How much of a stage's schedule runs: the request's where it starts from the request's picture
    (or, for an upscale or inpainting, at its first stage), else diffusers' default for that kind of
    start (never above the stage's own), else the stage's own."""
    picture = starts_from_picture(spec, request)
    if not (picture or (first and request.upscale)):
        return spec.strength
    if request.strength is not None:
        return float(request.strength)
    if not picture:
        return spec.strength
    if request.mask is not None and spec.kind == "base":
        return INPAINTING_STRENGTH
    return min(IMG2IMG_STRENGTH if spec.kind == "base" else IMG2IMG_SR_STRENGTH, spec.strength)


def stage_records(plan: StagePlan) -> tuple[dict[str, Any], ...]:
    """A plan as JSON, as manifests and image metadata record it: each stage's name and size with the
    settings it runs with."""
    return tuple(
        {"stage": spec.name, "resolution": spec.resolution} | asdict(settings) for spec, settings in plan
    )


def check_supported(spec: StageSpec, settings: StageSettings) -> None:
    """Refuse what the stage's model card says its weights cannot do (noise or a blank canvas, not an
    image), naming the values it supports."""
    if spec.solvers is not None and settings.solver not in spec.solvers:
        raise InvalidRequestError(
            "solver",
            f"stage {spec.name} of this model samples only with {', '.join(spec.solvers)} "
            f"(its model card); got {shown(settings.solver)}",
        )
    if settings.steps_run < 1:
        raise InvalidRequestError(
            "steps",
            f"stage {spec.name} runs int(steps x strength {settings.strength}) of its steps: "
            f"{settings.steps} steps run none",
        )
    if settings.steps < spec.min_steps:
        raise InvalidRequestError(
            "steps",
            f"stage {spec.name} of this model needs at least {spec.min_steps} steps "
            f"(fewer give noise; its model card); got {settings.steps}",
        )
