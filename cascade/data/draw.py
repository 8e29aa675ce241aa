"""Draw a `Scene` as an RGB image at any size, anti-aliased by supersampling.

Edges are drawn with PIL `factor` times larger than the output (at least 2x, and on a canvas of at least
512 px) and box-reduced, so each output pixel is the average of its sub-pixels: a 64 px render is the
1024 px render downscaled, up to anti-aliasing, at a fraction of the cost. Only what has edges is drawn
large: the backdrop pattern, and each object inside its own bounding patch. All geometry is in image
fractions, so renders at different sizes agree.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import PIL.Image
import PIL.ImageChops
import PIL.ImageDraw
import PIL.ImageFilter

from cascade.data.scene import PALETTE, Background, BackgroundKind, Pattern, Scene, SceneObject, Shape

NATIVE_SIZE = 1024
# Fill-pattern period and outline width, as fractions of the image side: 2 px at 64 (blurs to a flat
# mix), 8 px at 256 (clearly legible), 32 px at 1024 (crisp edges), so each super-resolution stage adds
# detail the previous stage cannot hold.
PATTERN_PERIOD = 1 / 32
OUTLINE_WIDTH = 0.012
DOT_RADIUS = 0.3  # of the period
BACKGROUND_PERIOD = 1 / 24
_MIN_CANVAS = 512


def render(scene: Scene, size: int = NATIVE_SIZE) -> PIL.Image.Image:
    """The scene drawn at `size` x `size`; deterministic, so equal scenes give identical bytes."""
    factor = supersampling(size)
    image = draw_background(scene.background, size, factor)
    for obj in scene.objects:
        _draw_object(image, obj, factor)
    return image


def supersampling(size: int) -> int:
    """Sub-pixels per output pixel side: at least 2, and enough for a canvas of `_MIN_CANVAS` px."""
    return max(2, math.ceil(_MIN_CANVAS / size))


@cache
def unit_polygons(shape: Shape) -> tuple[np.ndarray, np.ndarray | None]:
    """(outline, hole) of a shape as (k, 2) vertex arrays, bounding box centred on 0 with longer side 1."""
    if shape is Shape.RING:
        return _regular(128, 0.5), _regular(128, 0.25)
    points = {
        Shape.CIRCLE: lambda: _regular(128, 0.5),
        Shape.SQUARE: lambda: np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=float),
        Shape.TRIANGLE: lambda: np.array([[0, -1], [1, 0.732], [-1, 0.732]], dtype=float),
        Shape.STAR: _star,
        Shape.HEART: _heart,
        Shape.CROSS: _cross,
        Shape.HEXAGON: lambda: _regular(6, 1.0, start=0.0),
    }[shape]()
    return _normalise(points), None


def draw_shape(
    draw: PIL.ImageDraw.ImageDraw, shape: Shape, centre: tuple[float, float], diameter: float
) -> None:
    """Fill `shape` with 255 on an "L" image, its bounding box `diameter` px wide centred on `centre`."""
    outline, hole = unit_polygons(shape)
    draw.polygon(_place(outline, centre, diameter), fill=255)
    if hole is not None:
        draw.polygon(_place(hole, centre, diameter), fill=0)


def draw_background(background: Background, size: int, factor: int) -> PIL.Image.Image:
    """The backdrop at `size`; a pattern is drawn `factor` times larger and reduced, for anti-aliasing."""
    if background.kind is BackgroundKind.PLAIN:
        return PIL.Image.new("RGB", (size, size), background.colour)
    if background.kind is BackgroundKind.GRADIENT:
        mask = _gradient(background.angle, size)
    else:
        mask = _backdrop_pattern(background.kind, size * factor).reduce(factor)
    # Per-channel lookup tables blend the two colours by the mask: twice as fast as a masked paste.
    channels = [
        mask.point([round(a + (b - a) * v / 255) for v in range(256)])
        for a, b in zip(background.colour, background.colour2, strict=True)
    ]
    return PIL.Image.merge("RGB", channels)


def _draw_object(image: PIL.Image.Image, obj: SceneObject, factor: int) -> None:
    """Redraw the object's bounding patch `factor` times larger over the backdrop, then reduce it back:
    anti-aliasing that costs in proportion to the object, not the image."""
    size = image.size[0]
    cx, cy = (c * size for c in obj.centre)
    diameter = obj.diameter * size
    x0, y0 = math.floor(cx - diameter / 2) - 1, math.floor(cy - diameter / 2) - 1
    side = math.ceil(diameter) + 3
    big = side * factor
    patch = image.crop((x0, y0, x0 + side, y0 + side)).resize((big, big), PIL.Image.Resampling.NEAREST)
    mask = PIL.Image.new("L", (big, big), 0)
    draw_shape(
        PIL.ImageDraw.Draw(mask), obj.shape, ((cx - x0) * factor, (cy - y0) * factor), diameter * factor
    )
    base, tone = PALETTE[obj.colour]
    fill = PIL.Image.new("RGB", (big, big), base)
    if obj.pattern is not Pattern.SOLID:
        fill.paste(tone, mask=_fill_pattern(obj.pattern, mask, (x0 * factor, y0 * factor), size * factor))
    patch.paste(fill, (0, 0), mask)
    image.paste(patch.reduce(factor), (x0, y0))


def _fill_pattern(
    pattern: Pattern, mask: PIL.Image.Image, origin: tuple[int, int], canvas_size: int
) -> PIL.Image.Image:
    """Where the second tone goes; patterns are laid on image coordinates, so they line up across sizes."""
    if pattern is Pattern.OUTLINED:
        radius = max(1, round(OUTLINE_WIDTH * canvas_size))
        inner = mask.filter(PIL.ImageFilter.BoxBlur(radius)).point(lambda v: 255 if v >= 255 else 0)
        return PIL.ImageChops.subtract(mask, inner)
    side = mask.size[0]
    xs = (np.arange(side) + origin[0] + 0.5) / canvas_size / PATTERN_PERIOD
    ys = (np.arange(side) + origin[1] + 0.5) / canvas_size / PATTERN_PERIOD
    if pattern is Pattern.STRIPED:
        on = ((xs[None, :] + ys[:, None]) / math.sqrt(2)) % 1 < 0.5
    elif pattern is Pattern.CHECKED:
        # Cells of half a period, their corners on 64 px pixel centres: a flat 50/50 mix at 64 px.
        on = (np.floor(xs * 2 + 0.5)[None, :] + np.floor(ys * 2 + 0.5)[:, None]) % 2 == 0
    else:
        on = ((xs % 1 - 0.5) ** 2)[None, :] + ((ys % 1 - 0.5) ** 2)[:, None] < DOT_RADIUS**2
    return PIL.Image.fromarray(on.astype(np.uint8) * 255)


def _gradient(angle: float, size: int) -> PIL.Image.Image:
    """A linear ramp 0..255 along `angle` degrees, computed coarsely and upsampled (a ramp is bilinear)."""
    coarse = 64
    grid = (np.arange(coarse) + 0.5) / coarse - 0.5
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    ramp = 0.5 + (grid[None, :] * cos + grid[:, None] * sin) / (abs(cos) + abs(sin))
    small = PIL.Image.fromarray(np.round(np.clip(ramp, 0, 1) * 255).astype(np.uint8))
    return small.resize((size, size), PIL.Image.Resampling.BILINEAR)


def _backdrop_pattern(kind: BackgroundKind, size: int) -> PIL.Image.Image:
    mask = PIL.Image.new("L", (size, size), 0)
    draw = PIL.ImageDraw.Draw(mask)
    period = BACKGROUND_PERIOD * size
    count = math.ceil(1 / BACKGROUND_PERIOD)
    if kind is BackgroundKind.STRIPED:
        step = period * math.sqrt(2)
        for k in range(2 * count + 2):
            a = k * step
            draw.polygon([(a, 0), (a + step / 2, 0), (a + step / 2 - size, size), (a - size, size)], fill=255)
    elif kind is BackgroundKind.DOTTED:
        radius = 0.2 * period
        for i in range(count):
            for j in range(count):
                x, y = (i + 0.5) * period, (j + 0.5) * period
                draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=255)
    else:
        half = 0.05 * period
        for i in range(count + 1):
            draw.rectangle([i * period - half, 0, i * period + half, size], fill=255)
            draw.rectangle([0, i * period - half, size, i * period + half], fill=255)
    return mask


def _place(points: np.ndarray, centre: tuple[float, float], diameter: float) -> list[tuple[float, float]]:
    return [(centre[0] + x * diameter, centre[1] + y * diameter) for x, y in points]


def _normalise(points: np.ndarray) -> np.ndarray:
    low, high = points.min(axis=0), points.max(axis=0)
    return (points - (low + high) / 2) / (high - low).max()


def _regular(n: int, radius: float, start: float = -math.pi / 2) -> np.ndarray:
    angles = start + 2 * math.pi * np.arange(n) / n
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _star() -> np.ndarray:
    angles = -math.pi / 2 + math.pi * np.arange(10) / 5
    radii = np.where(np.arange(10) % 2 == 0, 1.0, 0.45)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _heart() -> np.ndarray:
    t = np.linspace(0, 2 * math.pi, 128, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return np.stack([x, y], axis=1)


def _cross() -> np.ndarray:
    """A plus sign: the top arm's three outer corners, turned a quarter four times."""
    a = 0.2  # half the arm width, for a bounding box of half-side 0.5
    arms = [np.array([[-a, -0.5], [a, -0.5], [a, -a]])]
    for _ in range(3):
        arms.append(arms[-1] @ np.array([[0, 1], [-1, 0]]))  # (x, y) -> (-y, x), clockwise on screen
    return np.concatenate(arms)
