"""Contact sheets: every `per_sheet` images of a run, in input order, tiled on one PNG."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import PIL.Image

from cascade.images import encode_png
from cascade.render.writer import write_atomic

GAP = 2  # pixels between tiles


def contact_sheet(images: Sequence[PIL.Image.Image]) -> PIL.Image.Image:
    """A near-square grid; tiles are as large as the largest image, smaller ones scaled up (nearest)."""
    tile = max(max(image.size) for image in images)
    columns = math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    sheet = PIL.Image.new("RGB", (columns * (tile + GAP) - GAP, rows * (tile + GAP) - GAP))
    for position, image in enumerate(images):
        row, column = divmod(position, columns)
        if image.size != (tile, tile):
            image = image.resize((tile, tile), PIL.Image.Resampling.NEAREST)
        sheet.paste(image.convert("RGB"), (column * (tile + GAP), row * (tile + GAP)))
    return sheet


def write_contact_sheets(folder: Path, files: Sequence[str], per_sheet: int) -> list[Path]:
    """`grids/grid_0001.png`, ... from the image files named in `files`, `per_sheet` to a sheet."""
    out = folder / "grids"
    out.mkdir(exist_ok=True)
    written = []
    for number, start in enumerate(range(0, len(files), per_sheet), start=1):
        names = files[start : start + per_sheet]
        images = []
        for name in names:
            with PIL.Image.open(folder / name) as image:
                images.append(image.convert("RGB"))
        path = out / f"grid_{number:04d}.png"
        write_atomic(path, encode_png(contact_sheet(images), {"images": " ".join(names)}))
        written.append(path)
    for stale in set(out.glob("grid_*.png")) - set(written):  # from an earlier, longer run
        stale.unlink()
    return written
