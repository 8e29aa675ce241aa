"""The parser reads ground-truth renders back almost perfectly at every cascade resolution, so it can judge
generated images."""

from __future__ import annotations

import dataclasses

import numpy as np
import PIL.Image
import pytest

from cascade.data.draw import render
from cascade.data.parser import label_components, parse
from cascade.data.sampler import sample_scene
from cascade.data.scene import Colour, Pattern
from cascade.evaluation.adherence import accuracy, score

SCENES = 200
REQUIRED = 0.98


@pytest.fixture(scope="module")
def native_renders():
    scenes = [sample_scene(50_000 + i) for i in range(SCENES)]
    return scenes, [render(scene, 1024) for scene in scenes]


@pytest.mark.parametrize("size", [64, 256, 1024])
def test_parser_accuracy_on_ground_truth_renders_is_at_least_98_percent(native_renders, size):
    scenes, images = native_renders
    results = []
    for scene, image in zip(scenes, images, strict=True):
        if size != 1024:
            image = image.resize((size, size), PIL.Image.Resampling.LANCZOS)
        results.append(score(image, scene))
    per_attribute = accuracy(results)
    expected = {"colour", "shape", "size", "position", "relation", "count", "overall"}
    expected |= {"pattern"} if size >= 256 else set()
    assert set(per_attribute) == expected
    assert all(value >= REQUIRED for value in per_attribute.values()), per_attribute


def test_parser_finds_each_object_once_in_reading_order():
    scene = sample_scene(4, "listed")
    parsed = parse(render(scene, 256))
    assert len(parsed.objects) == len(scene.objects)
    order = [(o.position.cell[1], o.position.cell[0]) for o in parsed.objects]
    assert order == sorted(order)


def test_parser_sees_nothing_in_an_empty_backdrop():
    scene = dataclasses.replace(sample_scene(5), objects=())
    assert parse(render(scene, 64)).objects == ()


def test_score_fails_images_of_other_scenes():
    """The metric can fail: a render of a different scene scores far below a render of the right one."""
    wrong = [score(render(sample_scene(i + 1), 64), sample_scene(i))["overall"] for i in range(40)]
    assert np.mean(wrong) < 0.1


def test_score_notices_a_changed_colour_and_a_missing_object():
    scene = sample_scene(8, "count")
    recoloured = dataclasses.replace(
        scene,
        objects=tuple(
            dataclasses.replace(o, colour=Colour.BLACK if o.colour != Colour.BLACK else Colour.RED)
            for o in scene.objects
        ),
    )
    assert score(render(recoloured, 64), scene) == {
        "colour": False,
        "shape": True,
        "size": True,
        "count": False,
        "overall": False,
    }
    missing = dataclasses.replace(scene, objects=scene.objects[1:])
    result = score(render(missing, 64), scene)
    assert not result["count"] and not result["overall"]


def test_patterns_are_scored_only_where_they_can_be_seen():
    scene = sample_scene(9, "single")
    assert "pattern" not in score(render(scene, 64), scene)
    assert score(render(scene, 256), scene)["pattern"]
    other = next(p for p in Pattern if p != scene.objects[0].pattern)
    repatterned = dataclasses.replace(scene, objects=(dataclasses.replace(scene.objects[0], pattern=other),))
    assert not score(render(repatterned, 256), scene)["pattern"]


def test_components_are_eight_connected_and_numbered_from_one():
    mask = np.zeros((6, 6), dtype=bool)
    mask[0, 0] = mask[1, 1] = True  # diagonal neighbours: one component
    mask[4:, 4:] = True
    labels = label_components(mask)
    assert labels[0, 0] == labels[1, 1] == 1 and labels[5, 5] == 2 and labels.max() == 2
