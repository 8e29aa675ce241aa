"""The torch renderer draws the PIL renderer's pictures: same shapes, fills, backdrops and colours, any crop
window, deterministic and independent of the batch."""

from __future__ import annotations

import itertools

import pytest
import torch

from cascade.data.draw import render
from cascade.data.sampler import sample_scene
from cascade.data.scene import (
    Background,
    BackgroundKind,
    Colour,
    Pattern,
    Position,
    Scene,
    SceneObject,
    Shape,
    Size,
)
from cascade.data.torch_draw import draw_scenes
from cascade.images import pil_to_tensor

LEVEL = 1 / 127.5  # one of 255 levels on the [-1, 1] scale


def every_kind() -> list[Scene]:
    """One object of each shape with each fill, over every backdrop kind, sizes and colours in turn."""
    kinds = list(BackgroundKind)
    scenes = []
    for i, (shape, pattern) in enumerate(itertools.product(Shape, Pattern)):
        obj = SceneObject(
            shape,
            list(Colour)[i % len(Colour)],
            list(Size)[i % len(Size)],
            list(Position)[i % len(Position)],
            pattern,
            (0.011 * (i % 3 - 1), 0.007 * (i % 5 - 2)),
        )
        kind = kinds[i % len(kinds)]
        second = (205, 228, 236) if kind is BackgroundKind.GRADIENT else (218, 223, 210)
        scenes.append(Scene((obj,), Background(kind, (234, 240, 226), second, 17.0 * i)))
    return scenes


TEST_SCENES = [sample_scene(seed) for seed in range(200)] + every_kind()


def test_the_test_scenes_cover_every_shape_fill_and_backdrop():
    drawn = {(o.shape, o.pattern) for s in TEST_SCENES for o in s.objects}
    assert drawn == set(itertools.product(Shape, Pattern))
    assert {s.background.kind for s in TEST_SCENES} == set(BackgroundKind)


@pytest.mark.parametrize("size", [64, 256])
def test_renders_agree_with_the_pil_renderer(size):
    """Within 2 levels on average in every image, and under 1% of any image's pixels off by more than 32
    levels (edge pixels, where PIL's few sub-pixels and the analytic coverage part ways)."""
    ours = draw_scenes(TEST_SCENES, size)
    theirs = torch.cat([pil_to_tensor(render(scene, size)) for scene in TEST_SCENES])
    difference = (ours - theirs).abs() / LEVEL
    assert difference.mean(dim=(1, 2, 3)).max() <= 2.0
    assert (difference > 32).float().mean(dim=(1, 2, 3)).max() <= 0.01


def test_renders_are_float32_images_in_range():
    images = draw_scenes(TEST_SCENES[:8], 48)
    assert images.shape == (8, 3, 48, 48) and images.dtype == torch.float32
    assert images.min() >= -1.0 and images.max() <= 1.0


@pytest.mark.parametrize(("size", "crop"), [(256, 96), (512, 40)])
def test_a_crop_is_the_same_window_of_the_full_render(size, crop):
    """Windows from just left of each scene's first object, level with its middle, so they hold an edge,
    its fill and the backdrop (at 512 px an object is wider than the 40 px window); and two windows at the
    canvas corners."""
    scenes = TEST_SCENES[:12] + TEST_SCENES[-12:]
    on_edges = [
        [round((obj.centre[0] - obj.diameter / 2) * size) - 2, round(obj.centre[1] * size) - crop // 2]
        for obj in (s.objects[0] for s in scenes)
    ]
    windows = [[min(max(v, 0), size - crop) for v in w] for w in on_edges]
    windows += [[0, 0], [size - crop, size - crop]]
    scenes += scenes[:2]
    crops = draw_scenes(scenes, size, crop=crop, offsets=torch.tensor(windows))
    full = draw_scenes(scenes, size)
    assert crops.shape == (len(scenes), 3, crop, crop)
    for k, (left, top) in enumerate(windows):
        window = full[k, :, top : top + crop, left : left + crop]
        assert torch.allclose(crops[k], window, atol=1e-5)
        assert k >= len(on_edges) or window.std() > 0.05  # an edge in view: a misplaced window would show


def test_same_scenes_give_identical_tensors():
    assert torch.equal(draw_scenes(TEST_SCENES[:16], 128), draw_scenes(TEST_SCENES[:16], 128))


def test_a_scene_drawn_alone_equals_it_drawn_in_a_batch():
    scenes = TEST_SCENES[:10] + TEST_SCENES[-10:]
    batch = draw_scenes(scenes, 128)
    alone = torch.cat([draw_scenes([scene], 128) for scene in scenes])
    reversed_batch = draw_scenes(scenes[::-1], 128).flip(0)
    assert torch.allclose(batch, alone, atol=1e-6) and torch.allclose(batch, reversed_batch, atol=1e-6)
    assert len({tuple(image.flatten()[::97].tolist()) for image in batch}) == len(scenes)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_renders_equal_cpu_renders():
    scenes = TEST_SCENES[:32]
    cuda = draw_scenes(scenes, 256, device="cuda").cpu()
    assert (cuda - draw_scenes(scenes, 256)).abs().max() < 0.5 * LEVEL


def test_bad_crops_and_offsets_are_refused():
    scenes = TEST_SCENES[:2]
    with pytest.raises(ValueError, match="crop"):
        draw_scenes(scenes, 64, crop=65)
    with pytest.raises(ValueError, match="offsets"):
        draw_scenes(scenes, 64, crop=32, offsets=torch.tensor([[0, 0], [33, 0]]))
    with pytest.raises(ValueError, match="offsets"):
        draw_scenes(scenes, 64, crop=32, offsets=torch.tensor([[0, 0]]))
