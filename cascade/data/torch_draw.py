"""Draw a batch of `Scene`s straight into one tensor on any device: the pictures of `draw.render` without a
CPU data worker per image, at any size and for any crop window.

`draw.render` supersamples PIL drawings. Here every edge is a signed distance in output pixels with analytic
anti-aliasing (coverage = clamp(0.5 - distance, 0, 1)), and fill patterns and backdrops are periodic waves
box-filtered over each pixel in closed form, so the cost does not grow with PIL's supersampling factor.
Shapes are the PIL renderer's own polygons (`draw.unit_polygons`), turned once into distance fields on a grid
and read with one `grid_sample` for every object of a batch, whatever its shape.

Where PIL's rasteriser departs from the ideal geometry the fields follow it on average. It floors vertices to
its sub-pixel grid and fills each row's span to the nearest sub-pixel: on average a polygon stays in place but
grows by half a sub-pixel sideways (half a sub-pixel times |n_x| along an edge's normal, and a full half for
a horizontal edge, which lies on a sub-pixel row once floored). Ellipse boxes are floored and filled
inclusively: backdrop dots are half a sub-pixel wider each side. Grid lines, axis-aligned, are drawn exactly
as PIL fills them. Each object's own flooring jitter (up to half a sub-pixel per vertex) is not followed.
Nor is the coverage at a corner, which a distance reads like an edge's (a square's corner pixel can be off
by a quarter). Against `draw.render` on 240 scenes: 0.4 levels of 255 mean difference at 64 and 256 px, under
0.1% of pixels off by more than 32 (tests/data/test_torch_draw.py; rates in bench/draw_rate.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache

import numpy as np
import torch
import torch.nn.functional as F

from cascade.data.draw import (
    BACKGROUND_PERIOD,
    DOT_RADIUS,
    OUTLINE_WIDTH,
    PATTERN_PERIOD,
    supersampling,
    unit_polygons,
)
from cascade.data.scene import PALETTE, RGB, BackgroundKind, Pattern, Scene, SceneObject, Shape

SHAPES = tuple(Shape)
# Each shape's field covers [-HALF, HALF]^2 of its unit box [-0.5, 0.5]^2 on a TEXELS x TEXELS grid: a texel
# is 1.6 px of the largest object at 1024, and bilinear reads of a distance are exact along straight edges.
_FIELD_TEXELS = 256
_FIELD_HALF = 0.75
# Literals of draw.py's backdrop and gradient drawing, as fractions of the backdrop period / coarse cells.
_GRID_HALF_WIDTH = 0.05
_BACKDROP_DOT_RADIUS = 0.2
_GRADIENT_CELLS = 64


def draw_scenes(
    scenes: Sequence[Scene],
    size: int,
    *,
    device: torch.device | str = "cpu",
    crop: int | None = None,
    offsets: torch.Tensor | None = None,
) -> torch.Tensor:
    """(B, 3, S, S) float32 in [-1, 1], S = crop or size; offsets (B, 2) int (left, top) in pixels of
    the size x size canvas gives each crop window (default: no crop / (0, 0))."""
    device = torch.device(device)
    side = size if crop is None else crop
    if not 0 < side <= size:
        raise ValueError(f"crop must be in (0, {size}], got {crop}")
    windows = [(0, 0)] * len(scenes) if offsets is None else [(int(x), int(y)) for x, y in offsets.tolist()]
    if len(windows) != len(scenes) or not all(0 <= v <= size - side for w in windows for v in w):
        raise ValueError(f"offsets must be ({len(scenes)}, 2) (left, top) in [0, {size - side}]")
    origins = torch.tensor(windows, dtype=torch.float32, device=device).view(-1, 2)
    centres = torch.arange(side, device=device, dtype=torch.float32) + 0.5
    image = _backdrops(scenes, size, origins[:, :1] + centres, origins[:, 1:] + centres)
    for slot in range(max((len(s.objects) for s in scenes), default=0)):
        # Slot by slot, so objects are painted over one another in each scene's order.
        chosen = [
            (i, s.objects[slot])
            for i, s in enumerate(scenes)
            if slot < len(s.objects) and _overlaps(s.objects[slot], size, windows[i], side)
        ]
        if chosen:
            _paint_objects(image, chosen, size, origins)
    return image


def _overlaps(obj: SceneObject, size: int, window: tuple[int, int], side: int) -> bool:
    """Whether any pixel of the object (with a pixel of anti-aliasing) falls in the window."""
    reach = obj.diameter * size / 2 + 1
    return all(
        corner - reach < centre * size < corner + side + reach
        for centre, corner in zip(obj.centre, window, strict=True)
    )


def _backdrops(scenes: Sequence[Scene], size: int, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """(B, 3, S, S): each backdrop's first colour blended to its second by its pattern's mask."""
    device = xs.device
    first = _levels([s.background.colour for s in scenes], device)
    second = _levels([s.background.colour2 for s in scenes], device)
    mask = xs.new_zeros(len(scenes), ys.shape[1], xs.shape[1])
    kinds = [s.background.kind for s in scenes]
    for kind in BackgroundKind:
        index = [i for i, k in enumerate(kinds) if k is kind]
        if kind is BackgroundKind.PLAIN or not index:
            continue
        angles = torch.tensor([scenes[i].background.angle for i in index], dtype=torch.float32, device=device)
        chosen = torch.tensor(index, device=device)
        mask[chosen] = _backdrop_mask(kind, angles, size, xs[chosen], ys[chosen])
    # An expanded first operand lets addcmul run one dense pass (four times faster on CPU than broadcasting).
    start = first[:, :, None, None].expand(-1, -1, *mask.shape[1:])
    return torch.addcmul(start, (second - first)[:, :, None, None], mask[:, None])


def _backdrop_mask(
    kind: BackgroundKind, angles: torch.Tensor, size: int, xs: torch.Tensor, ys: torch.Tensor
) -> torch.Tensor:
    """(n, S, S) share of the second colour, as `draw.draw_background` draws it."""
    factor = supersampling(size)
    period = BACKGROUND_PERIOD * size  # px
    if kind is BackgroundKind.GRADIENT:
        # PIL's bilinear upscale of a coarse ramp is the ramp at the cell coordinate, held at the outer cells.
        def cell(v: torch.Tensor) -> torch.Tensor:
            u = (v / size * _GRADIENT_CELLS - 0.5).clamp(0, _GRADIENT_CELLS - 1)
            return (u + 0.5) / _GRADIENT_CELLS - 0.5

        radians = torch.deg2rad(angles)
        cos, sin = torch.cos(radians), torch.sin(radians)
        norm = cos.abs() + sin.abs()
        return 0.5 + (
            cell(xs)[:, None, :] * (cos / norm)[:, None, None]
            + cell(ys)[:, :, None] * (sin / norm)[:, None, None]
        )
    if kind is BackgroundKind.STRIPED:
        # Bands of x + y, a period apart across; one sub-pixel wider along x + y than half (see module doc).
        step = period * math.sqrt(2)
        along = (xs[:, None, :] + ys[:, :, None]) / step
        return _square_wave(along, 0.5 + 1 / (step * factor), 1 / period)
    if kind is BackgroundKind.DOTTED:
        return _dots(xs, ys, period, (_BACKDROP_DOT_RADIUS * period * factor + 0.5) / factor)
    # A sub-pixel is on when its column or its row is: box-filtered, 1 - (1 - columns) x (1 - rows).
    return 1 - (1 - _grid_lines(xs, size))[:, None, :] * (1 - _grid_lines(ys, size))[:, :, None]


def _grid_lines(centres: torch.Tensor, size: int) -> torch.Tensor:
    """Share of each pixel (centre in px) that draw.py's grid lines across one axis cover, exactly: PIL
    fills whole sub-pixels from floor(i p - h) to floor(i p + h), which is what makes the lines uneven."""
    factor = supersampling(size)
    period = BACKGROUND_PERIOD * (size * factor)  # sub-pixels, in the same float arithmetic as draw.py
    half = _GRID_HALF_WIDTH * period
    lines = range(math.ceil(1 / BACKGROUND_PERIOD) + 1)
    start = torch.tensor([math.floor(i * period - half) for i in lines], device=centres.device)
    stop = torch.tensor([math.floor(i * period + half) + 1 for i in lines], device=centres.device)
    first = (centres[..., None] - 0.5) * factor  # the pixel's first sub-pixel
    return ((first + factor).minimum(stop) - first.maximum(start)).clamp(min=0).sum(-1) / factor


def _paint_objects(
    image: torch.Tensor, chosen: list[tuple[int, SceneObject]], size: int, origins: torch.Tensor
) -> None:
    """Paint one object into each listed image, in place, each over a square patch of its window that
    holds it; all patches are evaluated together."""
    device, side = image.device, image.shape[-1]
    factor = supersampling(size)
    images = torch.tensor([i for i, _ in chosen], device=device)
    objects = [o for _, o in chosen]
    centre = torch.tensor([o.centre for o in objects], dtype=torch.float32, device=device) * size  # (n, 2)
    diameter = torch.tensor([o.diameter for o in objects], dtype=torch.float32, device=device) * size
    patch = min(side, math.ceil(max(o.diameter for o in objects) * size) + 3)
    # The patch holds the object and an anti-aliasing pixel around it, moved inside the window if need be:
    # a patch pixel beyond the object is left as it is.
    corner = (torch.floor(centre - patch / 2 + 0.5) - origins[images]).clamp(0, side - patch)
    steps = torch.arange(patch, device=device)
    columns, rows = (corner.long()[:, axis, None] + steps for axis in (0, 1))  # (n, P) window indices
    px, py = (origins[images, axis, None] + corner[:, axis, None] + steps + 0.5 for axis in (0, 1))
    distance, erosion = _shape_distances(objects, px, py, centre, diameter, factor)
    cover = (0.5 - distance).clamp(0, 1)
    tone = torch.zeros_like(cover)
    patterns = [o.pattern for o in objects]
    for pattern in Pattern:
        index = [i for i, p in enumerate(patterns) if p is pattern]
        if pattern is Pattern.SOLID or not index:
            continue
        sub = torch.tensor(index, device=device)
        if pattern is Pattern.OUTLINED:
            # PIL erodes the mask with a box of `radius` sub-pixels: an edge with normal n moves in by
            # radius (|n_x| + |n_y|).
            radius = max(1, round(OUTLINE_WIDTH * size * factor)) / factor
            inner = (0.5 - distance[sub] - radius * erosion[sub]).clamp(0, 1)
            tone[sub] = cover[sub] - inner
        else:
            tone[sub] = cover[sub] * _fill(pattern, px[sub], py[sub], size)
    base = _levels([PALETTE[o.colour][0] for o in objects], device)
    second = _levels([PALETTE[o.colour][1] for o in objects], device)
    # Flat indices into the (B, 3, S, S) image, (n, 3, P, P): take / index_put are three times faster on
    # CPU than four-way advanced indexing, and no two objects of one slot share an image, so none collide.
    planes = images[:, None] * 3 + torch.arange(3, device=device)
    flat = (planes[:, :, None, None] * side + rows[:, None, :, None]) * side + columns[:, None, None, :]
    pixels = image.view(-1)
    old = pixels.take(flat)
    new = (
        old
        + cover[:, None] * (base[:, :, None, None] - old)
        + tone[:, None] * (second - base)[:, :, None, None]
    )
    pixels.index_put_((flat,), new)


def _levels(colours: list[RGB], device: torch.device) -> torch.Tensor:
    """(n, 3) RGB colours on the [-1, 1] scale of `cascade.images.pil_to_tensor`."""
    return torch.tensor(colours, dtype=torch.float32, device=device) / 127.5 - 1


def _shape_distances(
    objects: list[SceneObject],
    px: torch.Tensor,
    py: torch.Tensor,
    centre: torch.Tensor,
    diameter: torch.Tensor,
    factor: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, P, P) each: the distance in px to each object's edge as PIL fills it, and the erosion factor
    |n_x| + |n_y| of the nearest edge."""
    fields = _shape_fields(px.device)
    shapes = torch.tensor([SHAPES.index(o.shape) for o in objects], device=px.device)
    u = (px - centre[:, :1]) / diameter[:, None]  # (n, P) unit-box coordinates
    v = (py - centre[:, 1:]) / diameter[:, None]

    def texels(w: torch.Tensor) -> torch.Tensor:
        # Clamped to texel centres, so a bilinear read never reaches the next shape's field.
        return ((w + _FIELD_HALF) / (2 * _FIELD_HALF) * _FIELD_TEXELS - 0.5).clamp(0, _FIELD_TEXELS - 1)

    width = len(SHAPES) * _FIELD_TEXELS
    grid_x = (2 * (texels(u) + shapes[:, None] * _FIELD_TEXELS) + 1) / width - 1
    grid_y = (2 * texels(v) + 1) / _FIELD_TEXELS - 1
    grid = torch.stack(torch.broadcast_tensors(grid_x[:, None, :], grid_y[:, :, None]), dim=-1)
    n, patch = px.shape
    sampled = F.grid_sample(fields, grid.view(1, n * patch, patch, 2), mode="bilinear", align_corners=False)
    unit, erosion, dilation = sampled.view(3, n, patch, patch)
    # Beyond the field the shape is further still; this keeps objects a few pixels wide free of halos.
    beyond_u, beyond_v = ((w.abs() - _FIELD_HALF).clamp(min=0) for w in (u, v))
    beyond = beyond_u[:, None, :] + beyond_v[:, :, None]
    distance = (unit + beyond) * diameter[:, None, None] - dilation * (0.5 / factor)
    return distance, erosion


def _fill(pattern: Pattern, px: torch.Tensor, py: torch.Tensor, size: int) -> torch.Tensor:
    """(n, P, P) share of the second tone of a periodic fill, laid on image coordinates like draw.py's."""
    period = PATTERN_PERIOD * size  # px
    x, y = px / period, py / period  # in periods
    if pattern is Pattern.STRIPED:
        # Along the diagonal a pixel's footprint has the spread of a one-pixel box.
        return _square_wave((x[:, None, :] + y[:, :, None]) / math.sqrt(2), 0.5, 1 / period)
    if pattern is Pattern.CHECKED:
        # Cells half a period wide with corners on quarter periods: even column and row, or odd and odd.
        columns = _square_wave(x + 0.25, 0.5, 1 / period)[:, None, :]
        rows = _square_wave(y + 0.25, 0.5, 1 / period)[:, :, None]
        return columns * rows + (1 - columns) * (1 - rows)
    return _dots(px, py, period, DOT_RADIUS * period)


def _square_wave(phase: torch.Tensor, duty: float, width: float) -> torch.Tensor:
    """Mean over a window `width` wide centred on `phase` of the wave that is 1 on [k, k + duty) for every
    integer k: a box filter in closed form, exact at any width (a wide window gives `duty`)."""
    phase = phase - torch.floor(phase)  # the wave is periodic; small phases keep float32 exact enough
    return (_wave_integral(phase + width / 2, duty) - _wave_integral(phase - width / 2, duty)) / width


def _wave_integral(phase: torch.Tensor, duty: float) -> torch.Tensor:
    whole = torch.floor(phase)
    return whole * duty + (phase - whole).clamp(max=duty)


def _dots(xs: torch.Tensor, ys: torch.Tensor, period: float, radius: float) -> torch.Tensor:
    """(n, len(ys), len(xs)) coverage of discs of `radius` px centred at ((i, j) + 1/2) x `period` px.

    Edges are anti-aliased at sub-pixels at most half a radius wide, so dots smaller than a pixel still
    average to their area (at 64 px a fill dot is 1.2 px across)."""
    count = max(1, math.ceil(2 / radius))
    sub = 1 / count
    shifts = (torch.arange(count, device=xs.device) + 0.5) * sub - 0.5

    def across(v: torch.Tensor) -> torch.Tensor:
        phase = (v[..., None] + shifts) / period
        return (phase - torch.floor(phase) - 0.5) * period  # (n, S, count) px to the nearest dot centre

    dx, dy = across(xs), across(ys)
    distance = torch.hypot(dx[:, None, None, :, :], dy[:, :, :, None, None]) - radius
    return (0.5 - distance / sub).clamp(0, 1).mean(dim=(2, 4))


@cache
def _shape_fields(device: torch.device) -> torch.Tensor:
    """(1, 3, T, len(SHAPES) T): per shape, side by side, the signed distance in unit-box sides, the erosion
    factor |n_x| + |n_y| and PIL's signed widening factor (see module doc); computed once per process."""
    if device.type != "cpu":
        return _shape_fields(torch.device("cpu")).to(device)
    return torch.cat([_unit_field(shape) for shape in SHAPES], dim=-1)[None]


def _unit_field(shape: Shape) -> torch.Tensor:
    outline, hole = unit_polygons(shape)
    texel = 2 * _FIELD_HALF / _FIELD_TEXELS
    axis = (torch.arange(_FIELD_TEXELS, dtype=torch.float32) + 0.5) * texel - _FIELD_HALF
    points = torch.stack(torch.meshgrid(axis, axis, indexing="xy"), dim=-1).reshape(-1, 2)
    # draw.py's circle and ring are 128-gons, within 3e-4 of their radius of circles: taken as circles,
    # which saves three quarters of the time these fields take.
    circular = shape in (Shape.CIRCLE, Shape.RING)
    distance, dilation = _boundary_field(points, outline, circular)
    if hole is not None:
        # A hole's edge bounds the shape from outside: PIL widens the hole, so the shape narrows there.
        hole_distance, hole_dilation = _boundary_field(points, hole, circular)
        nearer = -hole_distance > distance
        distance = torch.where(nearer, -hole_distance, distance)
        dilation = torch.where(nearer, -hole_dilation, dilation)
    distance = distance.view(_FIELD_TEXELS, _FIELD_TEXELS)
    rows, columns = torch.gradient(distance, spacing=texel)
    erosion = rows.abs() + columns.abs()
    return torch.stack([distance, erosion, dilation.view_as(distance)])


def _boundary_field(
    points: torch.Tensor, polygon: np.ndarray, circular: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Signed distance from each point to a polygon (negative inside; to its circumcircle if `circular`), and
    the nearest edge's widening by PIL's span filling: |n_x|, or 1 for a horizontal edge."""
    if circular:
        radius = points.norm(dim=-1)
        return radius - np.abs(polygon).max(), points[:, 0].abs() / radius.clamp(min=1e-9)
    start = torch.from_numpy(polygon).float()
    edge = start.roll(-1, 0) - start  # (K, 2)
    length = edge.norm(dim=-1)
    flat = edge[:, 1].abs() < 1e-6 * length
    widening = torch.where(flat, 1.0, edge[:, 1].abs() / length)
    distances, dilations = [], []
    for chunk in points.split(4096):
        rel = chunk[:, None, :] - start  # (m, K, 2)
        t = ((rel * edge).sum(-1) / length**2).clamp(0, 1)
        gap, nearest = (rel - t[..., None] * edge).norm(dim=-1).min(dim=1)
        # Even-odd rule: count the edges crossing the ray from each point towards +x.
        x, y = chunk[:, :1], chunk[:, 1:]
        spans = (start[:, 1] > y) != (start.roll(-1, 0)[:, 1] > y)
        crossings = spans & (x < start[:, 0] + (y - start[:, 1]) * edge[:, 0] / edge[:, 1])
        inside = crossings.sum(dim=1) % 2 == 1
        distances.append(torch.where(inside, -gap, gap))
        dilations.append(widening[nearest])
    return torch.cat(distances), torch.cat(dilations)
