"""The procedural captioned world: scenes of coloured shapes, their renders and captions, and a parser
that reads a scene back from pixels (the adherence metric built on it is `cascade.evaluation.adherence`).
See docs/WORLD.md."""

from cascade.data.captions import Caption, caption
from cascade.data.dataset import WorldDataset, WorldStream
from cascade.data.draw import render
from cascade.data.parser import parse
from cascade.data.sampler import sample_scene
from cascade.data.scene import (
    Background,
    BackgroundKind,
    Colour,
    Pattern,
    Position,
    Relation,
    RelationKind,
    Scene,
    SceneObject,
    Shape,
    Size,
)

__all__ = [
    "Background",
    "BackgroundKind",
    "Caption",
    "Colour",
    "Pattern",
    "Position",
    "Relation",
    "RelationKind",
    "Scene",
    "SceneObject",
    "Shape",
    "Size",
    "WorldDataset",
    "WorldStream",
    "caption",
    "parse",
    "render",
    "sample_scene",
]
