"""Draw a random `Scene` from a seed.

Four layouts, each matching one way a caption talks about a picture: one object, a list of distinct
objects with their places, two objects in a spatial relation, and several identical objects to count.
Objects sit in distinct cells of a 3x3 grid with a margin, so they never touch or overlap.
"""

from __future__ import annotations

import colorsys
from dataclasses import replace
from enum import Enum
from typing import TypeVar

import numpy as np

from cascade.data.scene import (
    RGB,
    SIZE_FRACTION,
    Background,
    BackgroundKind,
    Colour,
    Pattern,
    Position,
    Relation,
    Scene,
    SceneObject,
    Shape,
    Size,
    relation_between,
)

LAYOUTS = ("single", "listed", "relation", "count")
LAYOUT_WEIGHTS = (0.3, 0.25, 0.25, 0.2)
# Gap kept between an object's bounding box and its cell's edge, as a fraction of the image side.
CELL_MARGIN = 0.02

E = TypeVar("E", bound=Enum)


def sample_scene(seed: int | np.random.Generator, layout: str | None = None) -> Scene:
    """A scene drawn from `seed`; the same seed always gives the same scene."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    layout = layout or LAYOUTS[rng.choice(len(LAYOUTS), p=LAYOUT_WEIGHTS)]
    background = sample_background(rng)
    if layout == "single":
        return Scene((_object(rng, _pick(rng, Position)),), background)
    if layout == "listed":
        cells = _cells(rng, int(rng.integers(2, 4)))
        kinds = _distinct_kinds(rng, len(cells))
        return Scene(tuple(_object(rng, p, *k) for p, k in zip(cells, kinds, strict=True)), background)
    if layout == "relation":
        return _relation_scene(rng, background)
    if layout == "count":
        template = _object(rng, Position.CENTRE)
        cells = _cells(rng, int(rng.integers(2, 4)))
        objects = tuple(replace(template, position=p, offset=_offset(rng, template.size)) for p in cells)
        return Scene(objects, background)
    raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")


def sample_background(rng: np.random.Generator) -> Background:
    kind = _pick(rng, BackgroundKind)
    colour = _pale(rng)
    if kind is BackgroundKind.GRADIENT:
        colour2 = _pale(rng)
    else:
        # Patterned backdrops draw a faint, slightly darker version of the same tint.
        red, green, blue = (round(c * 0.93) for c in colour)
        colour2 = red, green, blue
    return Background(
        kind, colour, colour2, float(rng.uniform(0, 360)) if kind is BackgroundKind.GRADIENT else 0.0
    )


def _relation_scene(rng: np.random.Generator, background: Background) -> Scene:
    """Two objects sharing a row or a column, so exactly one of above/below/left of/right of holds."""
    fixed, first, second = int(rng.integers(3)), *rng.choice(3, size=2, replace=False)
    if rng.random() < 0.5:
        cells = [Position.from_cell(fixed, int(first)), Position.from_cell(fixed, int(second))]
    else:
        cells = [Position.from_cell(int(first), fixed), Position.from_cell(int(second), fixed)]
    kinds = _distinct_kinds(rng, 2)
    objects = tuple(_object(rng, p, *k) for p, k in zip(cells, kinds, strict=True))
    kind = relation_between(objects[0].centre, objects[1].centre)
    return Scene(objects, background, Relation(0, kind, 1))


def _object(
    rng: np.random.Generator, position: Position, shape: Shape | None = None, colour: Colour | None = None
) -> SceneObject:
    size = _pick(rng, Size)
    return SceneObject(
        shape=shape or _pick(rng, Shape),
        colour=colour or _pick(rng, Colour),
        size=size,
        position=position,
        pattern=_pick(rng, Pattern),
        offset=_offset(rng, size),
    )


def _offset(rng: np.random.Generator, size: Size) -> tuple[float, float]:
    """A jitter that keeps the object's bounding box inside its cell, `CELL_MARGIN` from each edge."""
    slack = (1 / 3 - SIZE_FRACTION[size]) / 2 - CELL_MARGIN
    dx, dy = rng.uniform(-slack, slack, size=2)
    return round(float(dx), 4), round(float(dy), 4)


def _distinct_kinds(rng: np.random.Generator, n: int) -> list[tuple[Shape, Colour]]:
    """`n` different (shape, colour) pairs, so each object in a caption names exactly one drawn object."""
    pairs = [(s, c) for s in Shape for c in Colour]
    return [pairs[i] for i in rng.choice(len(pairs), size=n, replace=False)]


def _cells(rng: np.random.Generator, n: int) -> list[Position]:
    positions = list(Position)
    return [positions[i] for i in rng.choice(len(positions), size=n, replace=False)]


def _pick(rng: np.random.Generator, enum: type[E]) -> E:
    members = list(enum)
    return members[int(rng.integers(len(members)))]


def _pale(rng: np.random.Generator) -> RGB:
    """A light, barely saturated tint: far in colour from every object colour."""
    hue, saturation, value = rng.uniform(0, 1), rng.uniform(0.02, 0.12), rng.uniform(0.9, 0.99)
    red, green, blue = (round(c * 255) for c in colorsys.hsv_to_rgb(hue, saturation, value))
    return red, green, blue
