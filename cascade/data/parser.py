"""Read a `Scene` back from pixels: colour, shape, size and position of each object.

The image is box-downsampled to a fixed working resolution (64 px), so a 64, 256 or 1024 px image is
read the same way. Steps: fit a plane to the pale backdrop, mark pixels far from it as foreground, split
the foreground into connected components, then for each component

- colour: the mean of its interior, nearest to a palette colour's base-to-pattern-tone segment (a blurred
  pattern is a mix of the two tones, so it lies on that segment);
- shape and size: analysis by synthesis. The soft coverage (distance from backdrop / object contrast)
  fixes the object's area and centroid; for every shape, draw the anti-aliased template of that area and
  centroid and keep the shape whose template differs least from the coverage.

Fill patterns have a period of 2 px at 64 and blur into a flat mix there, so they are read only from
images of at least `PATTERN_RESOLUTION` px, at that resolution (see `read_pattern`); in smaller images
every object reads as solid, and `adherence.score` does not score patterns there.

No learning is involved: the only knowledge is the palette and the shape geometry the renderer uses.
"""

from __future__ import annotations

import dataclasses
import math
from functools import cache

import numpy as np
import PIL.Image
import PIL.ImageDraw

from cascade.data.draw import OUTLINE_WIDTH, PATTERN_PERIOD, draw_shape, unit_polygons
from cascade.data.scene import (
    PALETTE,
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

RESOLUTION = 64
# RGB distance from the backdrop above which a pixel is foreground; every palette tone is > 120 away
# from every backdrop, so this is a coverage of under one half.
FOREGROUND_DISTANCE = 60.0
# Below this distance a pixel counts as backdrop noise when measuring coverage.
NOISE_DISTANCE = 12.0
# Components smaller than this fraction of the image area are noise, not objects (the smallest object,
# a small star, covers about 0.009).
MIN_AREA_FRACTION = 0.002
# A backdrop whose fitted plane changes by more than this (RGB units, corner to corner) is a gradient.
GRADIENT_SPAN = 12.0
_TEMPLATE_SUPERSAMPLING = 8
PATTERN_RESOLUTION = 256
# Reading patterns: a pixel within ON_COLOUR_DISTANCE of the object's colour segment is part of it; an
# outline band is this much more toned than the core; below PLAIN_TONE mean tone (patterns cover 0.28
# to 0.5) the fill is solid.
ON_COLOUR_DISTANCE, OUTLINE_CONTRAST, PLAIN_TONE = 40.0, 0.5, 0.12


def parse(image: PIL.Image.Image, resolution: int = RESOLUTION) -> Scene:
    """The scene an image shows, objects in reading order; a relation is filled in when there are two."""
    pixels = working_pixels(image, resolution)
    backdrop = fit_backdrop(pixels)
    distance = np.linalg.norm(pixels - backdrop, axis=2)
    labels = label_components(distance > FOREGROUND_DISTANCE)
    min_area = MIN_AREA_FRACTION * resolution**2
    found = [
        _read_object(pixels, distance, labels, k)
        for k in range(1, labels.max() + 1)
        if (labels == k).sum() >= min_area
    ]
    if min(image.size) >= PATTERN_RESOLUTION:
        detail = working_pixels(image, PATTERN_RESOLUTION)
        found = [(dataclasses.replace(o, pattern=read_pattern(detail, o, d)), d) for o, d in found]
    objects = sorted((o for o, _ in found), key=lambda o: (o.position.cell[1], o.position.cell[0], o.centre))
    relation = None
    if len(objects) == 2:
        relation = Relation(0, relation_between(objects[0].centre, objects[1].centre), 1)
    return Scene(tuple(objects), _read_backdrop(backdrop), relation)


def working_pixels(image: PIL.Image.Image, resolution: int) -> np.ndarray:
    """(resolution, resolution, 3) float RGB; area averaging, so a downscaled render equals a small one."""
    image = image.convert("RGB")
    if image.size != (resolution, resolution):
        image = image.resize((resolution, resolution), PIL.Image.Resampling.BOX)
    return np.asarray(image, dtype=np.float64)


def fit_backdrop(pixels: np.ndarray) -> np.ndarray:
    """A per-channel plane a + b x + c y fitted to pale, unsaturated pixels (the image border if too few
    are pale), refitted once on the pixels that agree with it."""
    pale = (pixels.min(axis=2) > 170) & (np.ptp(pixels, axis=2) < 50)
    if pale.mean() < 0.2:
        pale = np.zeros(pixels.shape[:2], dtype=bool)
        pale[[0, -1], :] = pale[:, [0, -1]] = True
    plane = _fit_plane(pixels, pale)
    agree = np.linalg.norm(pixels - plane, axis=2) < FOREGROUND_DISTANCE / 2
    return _fit_plane(pixels, agree) if agree.sum() > 3 else plane


def label_components(mask: np.ndarray) -> np.ndarray:
    """8-connected component labels 1..n (0 = background), numbered in raster order of first pixel."""
    height, width = mask.shape
    big = height * width + 1
    labels = np.where(mask, np.arange(1, big).reshape(mask.shape), big)
    while True:
        padded = np.pad(labels, 1, constant_values=big)
        neighbours = [
            padded[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
        ]
        spread = np.where(mask, np.minimum.reduce(neighbours), big)
        if np.array_equal(spread, labels):
            break
        labels = spread
    roots = np.unique(labels[mask])
    relabelled = np.zeros(mask.shape, dtype=np.int64)
    relabelled[mask] = np.searchsorted(roots, labels[mask]) + 1
    return relabelled


def classify_colour(rgb: np.ndarray) -> Colour:
    """The palette colour whose base-to-tone segment passes closest to `rgb`."""
    return min(PALETTE, key=lambda c: float(_tone_and_distance(rgb, c)[1]))


def coverage(
    shape: Shape,
    centre: tuple[float, float],
    diameter: float,
    resolution: int,
    supersampling: int = _TEMPLATE_SUPERSAMPLING,
) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of `shape` drawn at `centre` (pixels) on a resolution-sized image."""
    factor = supersampling
    mask = PIL.Image.new("L", (resolution * factor, resolution * factor), 0)
    draw_shape(PIL.ImageDraw.Draw(mask), shape, (centre[0] * factor, centre[1] * factor), diameter * factor)
    return np.asarray(mask.reduce(factor), dtype=np.float64) / 255


@cache
def shape_moments(shape: Shape) -> tuple[float, np.ndarray]:
    """(area, centroid offset from the bounding-box centre) of a shape whose bounding box has side 1."""
    outline, hole = unit_polygons(shape)
    area, moment = _polygon_moments(outline)
    if hole is not None:
        hole_area, hole_moment = _polygon_moments(hole)
        area, moment = area - hole_area, moment - hole_moment
    return area, moment / area


def _read_object(
    pixels: np.ndarray, distance: np.ndarray, labels: np.ndarray, k: int
) -> tuple[SceneObject, float]:
    """The object in component `k`, and its bounding-box side as a fraction of the image side."""
    resolution = pixels.shape[0]
    component = labels == k
    interior = _erode(component)
    if interior.sum() < 3:
        interior = component
    colour = classify_colour(pixels[interior].mean(axis=0))
    # Coverage: 1 inside, falling linearly to 0 across anti-aliased edges; other objects are masked out.
    region = _dilate(_dilate(component)) & ((labels == 0) | component)
    alpha = np.where(region & (distance > NOISE_DISTANCE), distance / distance[interior].mean(), 0.0)
    alpha = np.clip(alpha, 0, 1)
    area = alpha.sum()
    ys, xs = np.indices(alpha.shape) + 0.5
    centroid = np.array([(alpha * xs).sum(), (alpha * ys).sum()]) / area
    best = min(
        ((*_template_error(alpha, region, shape, area, centroid), shape) for shape in Shape),
        key=lambda fit: fit[0],
    )
    _, diameter, centre, shape = best
    x, y = centre / resolution
    position = Position.at(x, y)
    column, row = position.cell
    obj = SceneObject(
        shape=shape,
        colour=colour,
        size=_nearest_size(diameter / resolution),
        position=position,
        pattern=Pattern.SOLID,
        offset=(round(x - (column + 0.5) / 3, 4), round(y - (row + 0.5) / 3, 4)),
    )
    return obj, diameter / resolution


def read_pattern(pixels: np.ndarray, obj: SceneObject, diameter: float) -> Pattern:
    """The fill pattern of `obj` (already located and coloured) in `PATTERN_RESOLUTION` px pixels.

    Inside the object (pixels on its colour's base-to-tone segment, near its template), features of the
    second-tone fraction `t`: its mean along the outline band against the core (outlined), its overall
    mean (solid), its change one step along the stripe diagonal against across it (striped), and its
    change half a period along an axis against half a period along both (checks flip, dots do not).
    """
    resolution = pixels.shape[0]
    centre = (obj.centre[0] * resolution, obj.centre[1] * resolution)
    template = coverage(obj.shape, centre, diameter * resolution, resolution, supersampling=2) > 0.5
    tone, off_colour = _tone_and_distance(pixels, obj.colour)
    inside = _erode(_dilate(_dilate(template)) & (off_colour < ON_COLOUR_DISTANCE))
    if not inside.any():
        return Pattern.SOLID
    # `inside` already lost one edge pixel; the band is the rest of the outline's width, the core beyond it.
    width = round(OUTLINE_WIDTH * resolution)
    band, core = inside & ~_erode(inside, width - 1), _erode(inside, width)
    core_tone = tone[core].mean() if core.any() else 0.0
    if tone[band].mean() - core_tone > OUTLINE_CONTRAST:
        return Pattern.OUTLINED
    if tone[inside].mean() < PLAIN_TONE:
        return Pattern.SOLID
    # Stripes run along x + y = constant: the tone barely changes one step along that diagonal.
    if _change(tone, inside, 1, -1) < 0.5 * _change(tone, inside, 1, 1):
        return Pattern.STRIPED
    half = round(PATTERN_PERIOD * resolution / 2)
    if _change(tone, inside, half, half) < 0.5 * _change(tone, inside, half, 0):
        return Pattern.CHECKED
    return Pattern.DOTTED


def _change(values: np.ndarray, where: np.ndarray, dx: int, dy: int) -> float:
    """Mean |values(x, y) - values(x + dx, y + dy)| over pairs of pixels both in `where` (dx > 0)."""
    height, width = values.shape
    y0, y1 = max(0, -dy), height - max(0, dy)
    first = (slice(y0, y1), slice(0, width - dx))
    second = (slice(y0 + dy, y1 + dy), slice(dx, width))
    pairs = where[first] & where[second]
    return float(np.abs(values[first] - values[second])[pairs].mean()) if pairs.any() else 0.0


def _tone_and_distance(pixels: np.ndarray, colour: Colour) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel: how far along `colour`'s base-to-tone segment it lies (0 base, 1 pattern tone), and
    its RGB distance from that segment."""
    base, tone = (np.asarray(c, dtype=np.float64) for c in PALETTE[colour])
    step = tone - base
    along = np.clip((pixels - base) @ step / (step @ step), 0, 1)
    return along, np.linalg.norm(pixels - base - along[..., None] * step, axis=-1)


def _template_error(
    alpha: np.ndarray, region: np.ndarray, shape: Shape, area: float, centroid: np.ndarray
) -> tuple[float, float, np.ndarray]:
    """(L1 misfit, diameter, centre) of `shape` scaled to the observed area and moved to its centroid."""
    unit_area, unit_centroid = shape_moments(shape)
    diameter = math.sqrt(area / unit_area)
    centre = centroid - unit_centroid * diameter
    template = coverage(shape, (centre[0], centre[1]), diameter, alpha.shape[0])
    return float(np.abs(alpha - template)[region].sum()), diameter, centre


def _nearest_size(fraction: float) -> Size:
    return min(Size, key=lambda s: abs(math.log(fraction / SIZE_FRACTION[s])))


def _read_backdrop(backdrop: np.ndarray) -> Background:
    """The backdrop's mean colour, and its extreme corners when it is a gradient (patterns are too faint
    to read at the working resolution)."""
    corners = backdrop[[0, 0, -1, -1], [0, -1, 0, -1]]
    first, last = corners[corners.sum(axis=1).argmax()], corners[corners.sum(axis=1).argmin()]
    mean = _to_rgb(backdrop.mean(axis=(0, 1)))
    if np.linalg.norm(first - last) > GRADIENT_SPAN:
        return Background(BackgroundKind.GRADIENT, _to_rgb(first), _to_rgb(last))
    return Background(BackgroundKind.PLAIN, mean, mean)


def _fit_plane(pixels: np.ndarray, where: np.ndarray) -> np.ndarray:
    height, width = where.shape
    ys, xs = np.indices((height, width)) / max(height, width)
    design = np.stack([np.ones_like(xs), xs, ys], axis=-1)
    weights, *_ = np.linalg.lstsq(design[where], pixels[where], rcond=None)
    return design @ weights


def _erode(mask: np.ndarray, steps: int = 1) -> np.ndarray:
    """3x3 erosion repeated `steps` times; pixels beyond the border count as unset."""
    for _ in range(steps):
        mask = ~_dilate(~mask, outside=True)
    return mask


def _dilate(mask: np.ndarray, outside: bool = False) -> np.ndarray:
    """3x3 dilation; pixels beyond the border count as `outside`."""
    padded = np.pad(mask, 1, constant_values=outside)
    height, width = mask.shape
    return np.logical_or.reduce(
        [padded[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    )


def _polygon_moments(points: np.ndarray) -> tuple[float, np.ndarray]:
    """(area, first moment) of a simple polygon by the shoelace formula."""
    x, y = points[:, 0], points[:, 1]
    x2, y2 = np.roll(x, -1), np.roll(y, -1)
    cross = x * y2 - x2 * y
    area = cross.sum() / 2
    moment = np.array([((x + x2) * cross).sum(), ((y + y2) * cross).sum()]) / 6
    return abs(area), moment * np.sign(area)


def _to_rgb(values: np.ndarray) -> tuple[int, int, int]:
    red, green, blue = (round(float(v)) for v in np.clip(values, 0, 255))
    return red, green, blue
