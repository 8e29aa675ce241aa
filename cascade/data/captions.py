"""Describe a `Scene` in words, from many templates and synonyms, in two disjoint splits.

Every attribute has a common word both splits use ("red"), synonyms only training uses ("crimson",
"ruby", ...: several, so that a held-out synonym is one more paraphrase rather than a cliff) and synonyms
only evaluation uses ("scarlet"); sentence templates are split the same way and each eval
template carries connecting words no train template has. So an eval prompt is a phrasing the model never
saw, built from facts it did see. A caption states only what is drawn, and `Caption.stated` lists the
attributes it commits to, which are the ones `adherence.score` checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from cascade.data.scene import (
    BackgroundKind,
    Colour,
    Pattern,
    Position,
    RelationKind,
    Scene,
    SceneObject,
    Shape,
    Size,
)

Split = Literal["train", "eval"]
SPLITS: tuple[Split, ...] = ("train", "eval")
ATTRIBUTES = ("colour", "shape", "size", "pattern", "position", "relation", "count", "background")


@dataclass(frozen=True)
class Words:
    """Ways to say one value: `common` in both splits, then split-only synonyms."""

    common: tuple[str, ...]
    train: tuple[str, ...] = ()
    eval: tuple[str, ...] = ()

    def choices(self, split: Split) -> tuple[str, ...]:
        return self.common + (self.train if split == "train" else self.eval)


COLOUR_WORDS: dict[Colour, Words] = {
    Colour.RED: Words(("red",), ("crimson", "ruby", "cherry-red", "blood-red"), ("scarlet",)),
    Colour.ORANGE: Words(("orange",), ("tangerine", "pumpkin", "apricot", "burnt-orange"), ("amber",)),
    Colour.YELLOW: Words(("yellow",), ("golden", "canary", "mustard", "sunflower-yellow"), ("lemon",)),
    Colour.GREEN: Words(("green",), ("emerald", "lime", "grass-green", "jade"), ("leaf-green",)),
    Colour.CYAN: Words(("cyan",), ("turquoise", "teal", "greenish-blue"), ("aqua",)),
    Colour.BLUE: Words(("blue",), ("cobalt", "navy", "royal-blue", "ultramarine"), ("sapphire",)),
    Colour.PURPLE: Words(("purple",), ("violet", "plum", "grape", "mauve"), ("amethyst",)),
    Colour.PINK: Words(("pink",), ("hot pink", "rose", "magenta", "bubblegum"), ("fuchsia",)),
    Colour.BROWN: Words(("brown",), ("chocolate", "coffee", "cocoa", "walnut"), ("chestnut",)),
    Colour.BLACK: Words(("black",), ("jet-black", "coal-black", "inky", "onyx"), ("ebony",)),
}
SHAPE_WORDS: dict[Shape, Words] = {
    Shape.CIRCLE: Words(("circle",), ("disc", "disk", "round shape", "orb"), ("circular shape",)),
    Shape.SQUARE: Words(("square",), ("block", "box", "square shape"), ("tile",)),
    Shape.TRIANGLE: Words(
        ("triangle",), ("triangular shape", "wedge", "pyramid shape"), ("three-sided shape",)
    ),
    Shape.STAR: Words(("star",), ("five-pointed star", "pointed star", "starburst"), ("star shape",)),
    Shape.HEART: Words(("heart",), ("love heart", "valentine heart", "heart symbol"), ("heart shape",)),
    Shape.RING: Words(("ring",), ("donut", "doughnut", "loop"), ("hoop",)),
    Shape.CROSS: Words(("cross",), ("plus sign", "plus symbol", "cross sign"), ("plus shape",)),
    Shape.HEXAGON: Words(("hexagon",), ("hex", "hexagonal shape", "honeycomb shape"), ("six-sided shape",)),
}
SIZE_WORDS: dict[Size, Words] = {
    Size.SMALL: Words(("small",), ("tiny", "miniature", "smallish"), ("little",)),
    Size.MEDIUM: Words(
        ("medium-sized",), ("mid-sized", "average-sized", "regular-sized"), ("moderately sized",)
    ),
    Size.LARGE: Words(("large",), ("big", "giant", "oversized"), ("huge",)),
}
# A pattern is said either before the noun ("a red striped circle") or after it ("a red circle with stripes").
PATTERN_ADJECTIVES: dict[Pattern, Words] = {
    Pattern.SOLID: Words(("solid",), ("filled", "uniform", "unpatterned"), ("flat",)),
    Pattern.STRIPED: Words(("striped",), ("stripy", "streaky", "barred"), ("banded",)),
    Pattern.DOTTED: Words(("dotted",), ("polka-dot", "dotty", "polka-dotted"), ("spotted",)),
    Pattern.CHECKED: Words(("checkered",), ("chequered", "checkerboard", "gingham"), ("checked",)),
    Pattern.OUTLINED: Words(("outlined",), ("rimmed", "framed", "trimmed"), ("edged",)),
}
PATTERN_PHRASES: dict[Pattern, Words] = {
    Pattern.SOLID: Words(
        (), ("with no pattern", "without any pattern", "in one solid tone"), ("in a single flat colour",)
    ),
    Pattern.STRIPED: Words(
        (), ("with stripes", "with thin stripes", "with a stripe pattern"), ("with diagonal bands",)
    ),
    Pattern.DOTTED: Words((), ("with polka dots", "with dots", "with a dot pattern"), ("covered in spots",)),
    Pattern.CHECKED: Words(
        (),
        ("with a checkerboard pattern", "with checks", "with a check pattern"),
        ("with a chequerboard pattern",),
    ),
    Pattern.OUTLINED: Words(
        (), ("with an outline", "with a rim", "with a thin frame"), ("with a contrasting border",)
    ),
}
POSITION_WORDS: dict[Position, Words] = {
    Position.TOP_LEFT: Words(
        ("in the top left corner",),
        ("at the top left", "in the top-left corner", "near the top left corner"),
        ("in the upper-left corner",),
    ),
    Position.TOP: Words(
        ("at the top",), ("near the top", "along the top", "at the top of the image"), ("at the upper edge",)
    ),
    Position.TOP_RIGHT: Words(
        ("in the top right corner",),
        ("at the top right", "in the top-right corner", "near the top right corner"),
        ("in the upper-right corner",),
    ),
    Position.LEFT: Words(
        ("on the left",), ("on the left side", "at the left", "on the far left"), ("at the left-hand side",)
    ),
    Position.CENTRE: Words(
        ("in the centre",), ("in the middle", "at the centre", "in the very middle"), ("at the center",)
    ),
    Position.RIGHT: Words(
        ("on the right",),
        ("on the right side", "at the right", "on the far right"),
        ("at the right-hand side",),
    ),
    Position.BOTTOM_LEFT: Words(
        ("in the bottom left corner",),
        ("at the bottom left", "in the bottom-left corner", "near the bottom left corner"),
        ("in the lower-left corner",),
    ),
    Position.BOTTOM: Words(
        ("at the bottom",),
        ("near the bottom", "along the bottom", "at the bottom of the image"),
        ("at the lower edge",),
    ),
    Position.BOTTOM_RIGHT: Words(
        ("in the bottom right corner",),
        ("at the bottom right", "in the bottom-right corner", "near the bottom right corner"),
        ("in the lower-right corner",),
    ),
}
RELATION_WORDS: dict[RelationKind, Words] = {
    RelationKind.ABOVE: Words(("above",), ("over", "atop", "on top of"), ("higher up than",)),
    RelationKind.BELOW: Words(("below",), ("under", "underneath", "down below"), ("beneath",)),
    RelationKind.LEFT_OF: Words(
        ("to the left of",), ("left of", "to the left side of", "just left of"), ("on the left-hand side of",)
    ),
    RelationKind.RIGHT_OF: Words(
        ("to the right of",),
        ("right of", "to the right side of", "just right of"),
        ("on the right-hand side of",),
    ),
}
COUNT_WORDS: dict[int, Words] = {
    2: Words(("two",), ("a pair of", "a couple of", "a duo of"), ("2",)),
    3: Words(("three",), ("a trio of", "a triplet of", "a group of three"), ("3",)),
}
BACKGROUND_WORDS: dict[BackgroundKind, Words] = {
    BackgroundKind.PLAIN: Words(("plain",), ("blank", "clean", "simple"), ("bare",)),
    BackgroundKind.GRADIENT: Words(("gradient",), ("fading", "blended", "graduated"), ("shaded",)),
    BackgroundKind.STRIPED: Words(("striped",), ("pinstriped", "lined", "ruled"), ("hatched",)),
    BackgroundKind.DOTTED: Words(("dotted",), ("speckled", "flecked", "freckled"), ("stippled",)),
    BackgroundKind.GRID: Words(("grid",), ("graph-paper", "gridded", "lattice"), ("squared",)),
}
# How a backdrop is mentioned, at the end of a caption.
BACKGROUND_PHRASE: dict[Split, str] = {"train": " on a {bg} background", "eval": " against a {bg} backdrop"}
# How the items of a list are joined: (between items, before the last).
JOINERS: dict[Split, tuple[str, str]] = {"train": (", ", " and "), "eval": (", ", " while ")}


@dataclass(frozen=True)
class Template:
    """A sentence with slots. Listing sentences fill `{items}` with one `item` per object (`{np}` noun
    phrase, `{pos}` position); relation sentences use `{a} {rel} {b}`; count sentences `{count} {group}`."""

    text: str
    item: str = ""

    def regex(self) -> re.Pattern[str]:
        """Matches every caption this template can produce: slots match any text, so one item stands for
        the whole list, and a backdrop phrase may follow."""
        text = self.text.replace("{items}", self.item)
        body = ".+".join(re.escape(part) for part in re.split(r"\{\w+\}", text))
        return re.compile(f"^{body}(?: on a .+ background| against a .+ backdrop)?$")


LISTING = "listing"
RELATION = "relation"
COUNT = "count"
TEMPLATES: dict[Split, dict[str, tuple[Template, ...]]] = {
    "train": {
        LISTING: (
            Template("{items}", "{np} {pos}"),
            Template("{items}", "{pos} there is {np}"),
            Template("a picture of {items}", "{np} {pos}"),
            Template("{items}", "{np}"),
            Template("an image showing {items}", "{np}"),
        ),
        RELATION: (
            Template("{a} {rel} {b}"),
            Template("there is {a} {rel} {b}"),
            Template("a picture of {a} {rel} {b}"),
        ),
        COUNT: (
            Template("{count} {group}"),
            Template("there are {count} {group}"),
            Template("a picture of {count} {group}"),
        ),
    },
    "eval": {
        LISTING: (
            Template("{items}", "{pos} you can see {np}"),
            Template("a drawing of {items}", "{np} placed {pos}"),
            Template("{items}", "{np} sitting {pos}"),
            Template("somewhere in the frame: {items}", "{np}"),
        ),
        RELATION: (
            Template("you can see {a} placed {rel} {b}"),
            Template("{a}, positioned {rel} {b}"),
        ),
        COUNT: (
            Template("exactly {count} {group}"),
            Template("a drawing of {count} {group} in total"),
        ),
    },
}
# How often an optional attribute is mentioned.
MENTION_PROBABILITY = {"size": 0.4, "pattern": 0.4, "background": 0.25}


@dataclass(frozen=True)
class Caption:
    """The text, the attributes it commits to (a subset of `ATTRIBUTES`), and "split/family/index" of its
    template."""

    text: str
    stated: frozenset[str]
    template: str


def layout(scene: Scene) -> str:
    """Which family of templates describes the scene."""
    if scene.relation is not None:
        return RELATION
    return COUNT if scene.is_count else LISTING


def caption(scene: Scene, seed: int | np.random.Generator, split: Split = "train") -> Caption:
    """A caption of `scene` drawn from `split`'s templates and words; deterministic in `seed`."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    family = layout(scene)
    index = int(rng.integers(len(TEMPLATES[split][family])))
    template = TEMPLATES[split][family][index]
    mention = {name: bool(rng.random() < p) for name, p in MENTION_PROBABILITY.items()}
    stated = {"colour", "shape"} | {name for name in ("size", "pattern") if mention[name]}
    phrase = _Phrasing(rng, split, mention["size"], mention["pattern"])
    if family == RELATION:
        text, stated = _relation_text(scene, template, phrase), stated | {"relation"}
    elif family == COUNT:
        text, stated = _count_text(scene, template, phrase), stated | {"count"}
    else:
        text = _listing_text(scene, template, phrase)
        stated |= {"position"} if "{pos}" in template.item else set()
    if mention["background"]:
        text += BACKGROUND_PHRASE[split].format(bg=phrase.pick(BACKGROUND_WORDS[scene.background.kind]))
        stated |= {"background"}
    return Caption(text, frozenset(stated), f"{split}/{family}/{index}")


@dataclass
class _Phrasing:
    """The choices shared by every noun phrase of one caption."""

    rng: np.random.Generator
    split: Split
    size: bool
    pattern: bool

    def pick(self, words: Words) -> str:
        choices = words.choices(self.split)
        return choices[int(self.rng.integers(len(choices)))]

    def noun_phrase(self, obj: SceneObject, count: int = 1) -> str:
        """The object in words: "a small red striped circle", "a red disc with stripes", "big stars"."""
        words = [self.pick(SIZE_WORDS[obj.size])] if self.size else []
        words.append(self.pick(COLOUR_WORDS[obj.colour]))
        noun = self.pick(SHAPE_WORDS[obj.shape])
        noun = noun if count == 1 else plural(noun)
        if self.pattern and self.rng.random() < 0.5:
            words += [self.pick(PATTERN_ADJECTIVES[obj.pattern]), noun]
        elif self.pattern:
            words += [noun, self.pick(PATTERN_PHRASES[obj.pattern])]
        else:
            words.append(noun)
        text = " ".join(words)
        return with_article(text) if count == 1 else text


def _listing_text(scene: Scene, template: Template, phrase: _Phrasing) -> str:
    order = [int(i) for i in phrase.rng.permutation(len(scene.objects))]
    items = [
        template.item.format(
            np=phrase.noun_phrase(scene.objects[i]),
            pos=phrase.pick(POSITION_WORDS[scene.objects[i].position]),
        )
        for i in order
    ]
    between, last = JOINERS[phrase.split]
    joined = items[0] if len(items) == 1 else between.join(items[:-1]) + last + items[-1]
    return template.text.format(items=joined)


def _relation_text(scene: Scene, template: Template, phrase: _Phrasing) -> str:
    """Either order: "A above B" or "B below A"."""
    relation = scene.relation
    subject, other, kind = relation.subject, relation.object, relation.kind
    if phrase.rng.random() < 0.5:
        subject, other, kind = other, subject, kind.inverse
    return template.text.format(
        a=phrase.noun_phrase(scene.objects[subject]),
        rel=phrase.pick(RELATION_WORDS[kind]),
        b=phrase.noun_phrase(scene.objects[other]),
    )


def _count_text(scene: Scene, template: Template, phrase: _Phrasing) -> str:
    count = len(scene.objects)
    return template.text.format(
        count=phrase.pick(COUNT_WORDS[count]), group=phrase.noun_phrase(scene.objects[0], count)
    )


def plural(noun: str) -> str:
    """English plural of a (possibly multi-word) noun; only the last word changes."""
    head, _, last = noun.rpartition(" ")
    last = last + "es" if last.endswith(("s", "x", "sh", "ch")) else last + "s"
    return f"{head} {last}".strip()


def with_article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase
