"""The structured ground truth of a scene: what is drawn, where, and in which colours.

Every other module in `cascade.data` speaks these types: the sampler draws a `Scene`, the renderer draws
it, the captioner describes it and the parser reads one back from pixels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

RGB = tuple[int, int, int]


class Shape(StrEnum):
    CIRCLE = "circle"
    SQUARE = "square"
    TRIANGLE = "triangle"
    STAR = "star"
    HEART = "heart"
    RING = "ring"
    CROSS = "cross"
    HEXAGON = "hexagon"


class Colour(StrEnum):
    RED = "red"
    ORANGE = "orange"
    YELLOW = "yellow"
    GREEN = "green"
    CYAN = "cyan"
    BLUE = "blue"
    PURPLE = "purple"
    PINK = "pink"
    BROWN = "brown"
    BLACK = "black"


class Size(StrEnum):
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


class Pattern(StrEnum):
    SOLID = "solid"
    STRIPED = "striped"
    DOTTED = "dotted"
    CHECKED = "checked"
    OUTLINED = "outlined"


class Position(StrEnum):
    """The nine cells of a 3x3 grid; an object's centre lies in the cell its position names."""

    TOP_LEFT = "top left"
    TOP = "top"
    TOP_RIGHT = "top right"
    LEFT = "left"
    CENTRE = "centre"
    RIGHT = "right"
    BOTTOM_LEFT = "bottom left"
    BOTTOM = "bottom"
    BOTTOM_RIGHT = "bottom right"

    @property
    def cell(self) -> tuple[int, int]:
        """(column, row), each 0..2."""
        index = list(Position).index(self)
        return index % 3, index // 3

    @classmethod
    def from_cell(cls, column: int, row: int) -> Position:
        return list(cls)[row * 3 + column]

    @classmethod
    def at(cls, x: float, y: float) -> Position:
        """The cell containing the point (x, y) in image fractions."""
        return cls.from_cell(min(int(x * 3), 2), min(int(y * 3), 2))


class BackgroundKind(StrEnum):
    PLAIN = "plain"
    GRADIENT = "gradient"
    STRIPED = "striped"
    DOTTED = "dotted"
    GRID = "grid"


class RelationKind(StrEnum):
    ABOVE = "above"
    BELOW = "below"
    LEFT_OF = "left of"
    RIGHT_OF = "right of"

    @property
    def inverse(self) -> RelationKind:
        return _INVERSE[self]


_INVERSE = {
    RelationKind.ABOVE: RelationKind.BELOW,
    RelationKind.BELOW: RelationKind.ABOVE,
    RelationKind.LEFT_OF: RelationKind.RIGHT_OF,
    RelationKind.RIGHT_OF: RelationKind.LEFT_OF,
}

# Saturated object colours and the second tone their patterns are drawn in. The tone keeps the hue, so a
# pattern that blurs away at 64 px averages to a mix of the two tones, and mixes of different colours stay
# more than 60 RGB units apart; every tone is more than 120 units from every pale backdrop.
PALETTE: dict[Colour, tuple[RGB, RGB]] = {
    Colour.RED: ((220, 30, 35), (150, 10, 20)),
    Colour.ORANGE: ((250, 135, 20), (190, 80, 0)),
    Colour.YELLOW: ((245, 215, 25), (195, 170, 0)),
    Colour.GREEN: ((40, 170, 60), (20, 115, 40)),
    Colour.CYAN: ((20, 195, 215), (0, 130, 150)),
    Colour.BLUE: ((35, 75, 225), (15, 35, 145)),
    Colour.PURPLE: ((145, 55, 205), (95, 20, 140)),
    Colour.PINK: ((240, 70, 170), (190, 30, 120)),
    Colour.BROWN: ((135, 80, 35), (180, 125, 75)),
    Colour.BLACK: ((25, 25, 25), (95, 95, 95)),
}

# Bounding-box side of an object as a fraction of the image side.
SIZE_FRACTION: dict[Size, float] = {Size.SMALL: 0.16, Size.MEDIUM: 0.21, Size.LARGE: 0.26}


@dataclass(frozen=True)
class SceneObject:
    """One drawn object; `offset` moves its centre from the middle of its cell, in image fractions."""

    shape: Shape
    colour: Colour
    size: Size
    position: Position
    pattern: Pattern = Pattern.SOLID
    offset: tuple[float, float] = (0.0, 0.0)

    @property
    def centre(self) -> tuple[float, float]:
        column, row = self.position.cell
        return (column + 0.5) / 3 + self.offset[0], (row + 0.5) / 3 + self.offset[1]

    @property
    def diameter(self) -> float:
        return SIZE_FRACTION[self.size]

    @property
    def kind(self) -> tuple[Shape, Colour]:
        """What a caption calls it: "a red circle"."""
        return self.shape, self.colour


@dataclass(frozen=True)
class Background:
    """A pale backdrop: plain `colour`, a linear gradient to `colour2` along `angle` degrees, or a faint
    pattern drawn in `colour2`."""

    kind: BackgroundKind
    colour: RGB
    colour2: RGB
    angle: float = 0.0


@dataclass(frozen=True)
class Relation:
    """`objects[subject]` is `kind` `objects[object]`: "a red star above a blue ring"."""

    subject: int
    kind: RelationKind
    object: int


@dataclass(frozen=True)
class Scene:
    objects: tuple[SceneObject, ...]
    background: Background
    relation: Relation | None = None

    @property
    def is_count(self) -> bool:
        """Several identical objects, described by number: "three blue circles"."""
        first = self.objects[0]
        return len(self.objects) > 1 and all(
            (o.shape, o.colour, o.size, o.pattern) == (first.shape, first.colour, first.size, first.pattern)
            for o in self.objects
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "objects": [
                {
                    "shape": o.shape.value,
                    "colour": o.colour.value,
                    "size": o.size.value,
                    "position": o.position.value,
                    "pattern": o.pattern.value,
                    "offset": list(o.offset),
                }
                for o in self.objects
            ],
            "background": {
                "kind": self.background.kind.value,
                "colour": list(self.background.colour),
                "colour2": list(self.background.colour2),
                "angle": self.background.angle,
            },
            "relation": None
            if self.relation is None
            else {
                "subject": self.relation.subject,
                "kind": self.relation.kind.value,
                "object": self.relation.object,
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scene:
        objects = tuple(
            SceneObject(
                shape=Shape(o["shape"]),
                colour=Colour(o["colour"]),
                size=Size(o["size"]),
                position=Position(o["position"]),
                pattern=Pattern(o["pattern"]),
                offset=(float(o["offset"][0]), float(o["offset"][1])),
            )
            for o in data["objects"]
        )
        bg = data["background"]
        background = Background(
            kind=BackgroundKind(bg["kind"]),
            colour=_rgb(bg["colour"]),
            colour2=_rgb(bg["colour2"]),
            angle=float(bg["angle"]),
        )
        rel = data.get("relation")
        relation = None if rel is None else Relation(rel["subject"], RelationKind(rel["kind"]), rel["object"])
        return cls(objects=objects, background=background, relation=relation)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Scene:
        return cls.from_dict(json.loads(text))


def _rgb(values: list[int]) -> RGB:
    red, green, blue = (int(v) for v in values)
    return red, green, blue


def relation_between(subject: tuple[float, float], other: tuple[float, float]) -> RelationKind:
    """How a caption would place the point `subject` against `other`: along the axis they differ most."""
    dx, dy = subject[0] - other[0], subject[1] - other[1]
    if abs(dy) >= abs(dx):
        return RelationKind.ABOVE if dy < 0 else RelationKind.BELOW
    return RelationKind.LEFT_OF if dx < 0 else RelationKind.RIGHT_OF
