"""Captions say only what is drawn, every template is used, and the eval split is phrasing training never
sees. Captions are checked by reading them back with a small reader that knows only the word lists."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pytest

from cascade.data.captions import (
    BACKGROUND_WORDS,
    COLOUR_WORDS,
    COUNT_WORDS,
    PATTERN_ADJECTIVES,
    PATTERN_PHRASES,
    POSITION_WORDS,
    RELATION_WORDS,
    SHAPE_WORDS,
    SIZE_WORDS,
    SPLITS,
    TEMPLATES,
    Words,
    caption,
    plural,
)
from cascade.data.sampler import sample_scene
from cascade.data.scene import Scene, relation_between

SAMPLES = 600


def _phrases(
    category: str, table: dict, plural_too: bool = False
) -> list[tuple[tuple[str, ...], str, object]]:
    entries = []
    for value, words in table.items():
        for phrase in words.common + words.train + words.eval:
            for form in {phrase, plural(phrase)} if plural_too else {phrase}:
                entries.append((tuple(form.split()), category, value))
    return entries


LEXICON = sorted(
    _phrases("colour", COLOUR_WORDS)
    + _phrases("shape", SHAPE_WORDS, plural_too=True)
    + _phrases("size", SIZE_WORDS)
    + _phrases("pattern", PATTERN_ADJECTIVES)
    + _phrases("pattern_phrase", PATTERN_PHRASES)
    + _phrases("position", POSITION_WORDS)
    + _phrases("relation", RELATION_WORDS)
    + _phrases("count", COUNT_WORDS),
    key=lambda entry: -len(entry[0]),
)
SEPARATORS = {",", ";", "and", "while"}


@dataclass
class Reading:
    objects: list[dict] = field(default_factory=list)
    relation: tuple[int, object, int] | None = None
    count: int | None = None
    background: object = None


def read_caption(text: str) -> Reading:
    """What a caption claims, from the word lists alone: objects with their attributes in order of
    mention, a relation between two of them, a count, and the backdrop."""
    reading = Reading()
    backdrop = re.search(r" (?:on|against) a ([\w -]+?) (?:background|backdrop)$", text)
    if backdrop:
        words = {w: kind for kind, ws in BACKGROUND_WORDS.items() for w in ws.common + ws.train + ws.eval}
        reading.background, text = words[backdrop.group(1)], text[: backdrop.start()]
    tokens = re.findall(r"[\w-]+|[,;:]", text)
    pending: dict = {}
    clause: list[dict] = []
    clause_position = None
    relation_subject = None
    i = 0
    while i <= len(tokens):
        match = (
            next((e for e in LEXICON if tuple(tokens[i : i + len(e[0])]) == e[0]), None)
            if i < len(tokens)
            else None
        )
        if match is None:
            if i == len(tokens) or tokens[i] in SEPARATORS:
                if clause_position is not None:
                    assert len(clause) == 1, f"a position must belong to one object: {text!r}"
                    clause[0]["position"] = clause_position
                clause, clause_position = [], None
            i += 1
            continue
        phrase, category, value = match
        i += len(phrase)
        if category == "shape":
            obj = {**pending, "shape": value}
            reading.objects.append(obj)
            clause.append(obj)
            pending = {}
            if relation_subject is not None and reading.relation is None:
                reading.relation = (relation_subject[0], relation_subject[1], len(reading.objects) - 1)
        elif category == "pattern_phrase":
            reading.objects[-1]["pattern"] = value
        elif category == "position":
            clause_position = value
        elif category == "relation":
            relation_subject = (len(reading.objects) - 1, value)
        elif category == "count":
            reading.count = value
        else:
            pending[category] = value
    return reading


def _check(scene: Scene, text: str, stated: frozenset[str]) -> None:
    reading = read_caption(text)
    if scene.is_count:
        assert reading.count == len(scene.objects), text
        assert len(reading.objects) == 1, text
        mentioned = [(reading.objects[0], scene.objects[0])]
    else:
        assert reading.count is None, text
        assert Counter(o["shape"] for o in reading.objects) == Counter(o.shape for o in scene.objects), text
        by_kind = {o.kind: o for o in scene.objects}
        mentioned = [(r, by_kind[(r["shape"], r["colour"])]) for r in reading.objects]
        assert len(by_kind) == len(scene.objects) == len(reading.objects), text
    for read, truth in mentioned:
        for attribute in ("colour", "shape", "size", "pattern", "position"):
            assert (attribute in read) == (attribute in stated), (attribute, text)
            if attribute in read:
                assert read[attribute] == getattr(truth, attribute), (attribute, text)
    assert (reading.relation is not None) == ("relation" in stated) == (scene.relation is not None), text
    if reading.relation is not None:
        subject, kind, other = reading.relation
        centres = {o.kind: o.centre for o in scene.objects}
        subject_kind = (reading.objects[subject]["shape"], reading.objects[subject]["colour"])
        other_kind = (reading.objects[other]["shape"], reading.objects[other]["colour"])
        assert relation_between(centres[subject_kind], centres[other_kind]) is kind, text
    assert (reading.background is not None) == ("background" in stated), text
    if reading.background is not None:
        assert reading.background is scene.background.kind, text


@pytest.mark.parametrize("split", SPLITS)
def test_captions_agree_with_ground_truth_for_every_template(split):
    used = set()
    for seed in range(SAMPLES):
        scene = sample_scene(seed)
        described = caption(scene, seed + 10**6, split)
        _check(scene, described.text, described.stated)
        used.add(described.template)
    every = {f"{split}/{family}/{i}" for family, ts in TEMPLATES[split].items() for i in range(len(ts))}
    assert used == every


def test_caption_is_deterministic_in_its_seed():
    scene = sample_scene(3)
    assert caption(scene, 7) == caption(scene, 7)
    assert len({caption(scene, s).text for s in range(20)}) > 5


def _train_captions() -> list[str]:
    return [caption(sample_scene(seed), seed, "train").text for seed in range(2000)]


def test_eval_templates_never_appear_in_train_captions():
    train = _train_captions()
    for family, templates in TEMPLATES["eval"].items():
        for template in templates:
            pattern = template.regex()
            assert not any(pattern.match(text) for text in train), (family, template)


def test_eval_only_words_never_appear_in_train_captions():
    tables = [COLOUR_WORDS, SHAPE_WORDS, SIZE_WORDS, PATTERN_ADJECTIVES, PATTERN_PHRASES, POSITION_WORDS]
    tables += [RELATION_WORDS, COUNT_WORDS, BACKGROUND_WORDS]
    eval_only = {w for table in tables for words in table.values() for w in words.eval}
    eval_only -= {w for table in tables for words in table.values() for w in words.common + words.train}
    text = "\n".join(_train_captions())
    found = {w for w in eval_only if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text)}
    assert not found


def test_eval_templates_do_match_their_own_captions():
    """The template regexes used above are not vacuous: each matches what it produced."""
    rng = np.random.default_rng(0)
    for seed in range(300):
        described = caption(sample_scene(seed), rng, "eval")
        split, family, index = described.template.split("/")
        assert TEMPLATES[split][family][int(index)].regex().match(described.text), described.text


def test_words_choices_keep_the_splits_apart():
    words = Words(("red",), ("crimson",), ("scarlet",))
    assert words.choices("train") == ("red", "crimson")
    assert words.choices("eval") == ("red", "scarlet")
