"""Contact sheets: every `per_sheet` images of a run, in input order, tiled on one PNG with captions.

Each cell is a square at least `MIN_TILE` px wide: small images are scaled up by a whole factor with
nearest neighbour, so a 16 px or 64 px render stays crisp pixels instead of a blur, and a non-square
one keeps its aspect ratio, centred in its cell. Under each image its prompt
(cut to fit, with "…") and its file and seed, in Pillow's default font; the sheet's `captions` text chunk
holds the same, untruncated, as JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import PIL.Image
from PIL import ImageDraw, ImageFont

from cascade.images import encode_png
from cascade.render.writer import write_atomic

MIN_TILE = 256  # pixels: the smallest cell width
GAP = 2  # pixels between cells
PAD = 4  # pixels around caption lines
BACKGROUND = (24, 24, 24)
PROMPT_COLOUR = (235, 235, 235)
DETAIL_COLOUR = (150, 150, 150)
ELLIPSIS = "…"


@dataclass(frozen=True)
class Caption:
    file: str
    prompt: str
    seed: str


def tile_size(images: Sequence[PIL.Image.Image]) -> int:
    """The largest image's size times the smallest whole factor that makes it at least MIN_TILE."""
    largest = max(max(image.size) for image in images)
    return largest * math.ceil(MIN_TILE / largest)


def scaled_to_fit(image: PIL.Image.Image, tile: int) -> PIL.Image.Image:
    """`image` scaled by the largest whole factor that keeps its long side within `tile` (nearest
    neighbour); `tile_size` makes every tile at least as large as the sheet's largest image."""
    factor = tile // max(image.size)
    if factor == 1:
        return image
    return image.resize((image.width * factor, image.height * factor), PIL.Image.Resampling.NEAREST)


def fit(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: float) -> str:
    """`text` on one line, cut at the end with an ellipsis where it is wider than `width`."""
    text = " ".join(text.split())  # newlines and runs of spaces as one space
    if font.getlength(text) <= width:
        return text
    low, high = 0, len(text)  # the longest prefix that fits with the ellipsis
    while low < high:
        middle = (low + high + 1) // 2
        if font.getlength(text[:middle].rstrip() + ELLIPSIS) <= width:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + ELLIPSIS


def contact_sheet(images: Sequence[PIL.Image.Image], captions: Sequence[Caption]) -> PIL.Image.Image:
    """A near-square grid of cells, each an image (scaled up, nearest) over two caption lines."""
    tile = tile_size(images)
    font = ImageFont.load_default(size=max(12, tile // 18))
    ascent, descent = font.getmetrics()
    line = ascent + descent
    strip = 2 * line + 3 * PAD
    columns = math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    cell_width, cell_height = tile + GAP, tile + strip + GAP
    sheet = PIL.Image.new("RGB", (columns * cell_width - GAP, rows * cell_height - GAP), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for position, (image, caption) in enumerate(zip(images, captions, strict=True)):
        row, column = divmod(position, columns)
        x, y = column * cell_width, row * cell_height
        scaled = scaled_to_fit(image, tile)
        sheet.paste(scaled.convert("RGB"), (x + (tile - scaled.width) // 2, y + (tile - scaled.height) // 2))
        text_width = tile - 2 * PAD
        details = f"{Path(caption.file).stem}, seed {caption.seed}"
        draw.text((x + PAD, y + tile + PAD), fit(caption.prompt, font, text_width), PROMPT_COLOUR, font)
        draw.text((x + PAD, y + tile + 2 * PAD + line), fit(details, font, text_width), DETAIL_COLOUR, font)
    return sheet


def write_contact_sheets(folder: Path, files: Sequence[str], per_sheet: int) -> list[Path]:
    """`grids/grid_0001.png`, ... from the image files named in `files`, `per_sheet` to a sheet; the
    captions come from each PNG's `prompt` and `seed` text chunks."""
    out = folder / "grids"
    out.mkdir(exist_ok=True)
    written = []
    for number, start in enumerate(range(0, len(files), per_sheet), start=1):
        names = files[start : start + per_sheet]
        images, captions = [], []
        for name in names:
            with PIL.Image.open(folder / name) as image:
                captions.append(Caption(name, image.info.get("prompt", ""), image.info.get("seed", "")))
                images.append(image.convert("RGB"))
        path = out / f"grid_{number:04d}.png"
        text = {"images": " ".join(names), "captions": json.dumps([asdict(c) for c in captions])}
        write_atomic(path, encode_png(contact_sheet(images, captions), text))
        written.append(path)
    for stale in set(out.glob("grid_*.png")) - set(written):  # from an earlier, longer run
        stale.unlink()
    return written
