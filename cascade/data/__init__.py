"""The procedural captioned world: scenes of coloured shapes, their renders and captions, a parser that
reads a scene back from pixels, and the adherence metric built on it. See docs/WORLD.md."""

from cascade.data.adherence import EvalCase, accuracy, detail, eval_suite, evaluate, score
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
    "EvalCase",
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
    "accuracy",
    "caption",
    "detail",
    "eval_suite",
    "evaluate",
    "parse",
    "render",
    "sample_scene",
    "score",
]
