"""The renderer is deterministic, size-consistent, and draws scenes the parser can rely on."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cascade.data.draw import render
from cascade.data.sampler import CELL_MARGIN, LAYOUTS, sample_background, sample_scene
from cascade.data.scene import PALETTE, Scene, relation_between


def test_same_seed_renders_identical_bytes():
    assert render(sample_scene(11), 256).tobytes() == render(sample_scene(11), 256).tobytes()


def test_different_seeds_render_different_images():
    images = {render(sample_scene(seed), 64).tobytes() for seed in range(20)}
    assert len(images) == 20


@pytest.mark.parametrize("size", [64, 256])
def test_small_render_matches_the_native_render_downscaled(size):
    """Rendering small directly is a shortcut, not a different picture: it equals the 1024 render
    box-downscaled up to anti-aliasing (edge pixels may differ, the mean barely)."""
    for seed in range(6):
        scene = sample_scene(seed)
        small = np.asarray(render(scene, size), dtype=np.float64)
        reduced = np.asarray(render(scene, 1024).reduce(1024 // size), dtype=np.float64)
        difference = np.abs(small - reduced)
        assert difference.mean() < 2.0
        assert np.mean(difference > 40) < 0.01


@pytest.mark.parametrize("size", [48, 64, 100, 1024])
def test_render_has_the_requested_size(size):
    image = render(sample_scene(1), size)
    assert image.size == (size, size) and image.mode == "RGB"


def test_scene_survives_a_json_round_trip():
    for seed in range(50):
        scene = sample_scene(seed)
        assert Scene.from_json(scene.to_json()) == scene


def test_every_layout_is_drawn_with_its_promises():
    """Objects sit in distinct cells with a margin; relation pairs share a row or column and the stored
    relation is the geometric one; count scenes repeat one object; listed objects are distinct kinds."""
    for seed, layout in itertools.product(range(60), LAYOUTS):
        scene = sample_scene(seed, layout)
        assert len({o.position for o in scene.objects}) == len(scene.objects)
        for obj in scene.objects:
            column, row = obj.position.cell
            x, y = obj.centre
            half = obj.diameter / 2 + CELL_MARGIN - 1e-9
            assert column / 3 <= x - half and x + half <= (column + 1) / 3
            assert row / 3 <= y - half and y + half <= (row + 1) / 3
        if layout == "relation":
            a, b = scene.objects
            assert a.position.cell[0] == b.position.cell[0] or a.position.cell[1] == b.position.cell[1]
            assert relation_between(a.centre, b.centre) is scene.relation.kind
        if layout == "count":
            assert scene.is_count and 2 <= len(scene.objects) <= 3
        if layout == "listed":
            assert len({o.kind for o in scene.objects}) == len(scene.objects) >= 2


def test_every_object_colour_is_far_from_every_backdrop():
    """The parser separates objects by distance from the backdrop: keep a wide gap."""
    rng = np.random.default_rng(0)
    backdrops = np.array(
        [c for _ in range(500) for c in (lambda b: (b.colour, b.colour2))(sample_background(rng))]
    )
    tones = np.array([t for pair in PALETTE.values() for t in pair], dtype=np.float64)
    gaps = np.linalg.norm(tones[:, None, :] - backdrops[None, :, :], axis=2)
    assert gaps.min() > 120


def test_palette_colours_stay_apart_even_when_patterns_blend_them():
    """A pattern blurred at 64 px mixes a colour's two tones; mixes of different colours must not meet."""
    mix = np.linspace(0, 1, 21)[:, None]
    segments = {c: np.add(base, mix * np.subtract(tone, base)) for c, (base, tone) in PALETTE.items()}
    for a, b in itertools.combinations(segments.values(), 2):
        assert np.linalg.norm(a[:, None] - b[None], axis=2).min() > 60
