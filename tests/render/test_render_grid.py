"""Contact sheets: readable cells (at least 256 px, small images scaled up crisply) with a caption each."""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest
from PIL import ImageFont

from cascade.render.grid import BACKGROUND, ELLIPSIS, MIN_TILE, Caption, contact_sheet, fit, tile_size


def noise(size: int, seed: int = 0) -> PIL.Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    return PIL.Image.fromarray(pixels)


@pytest.mark.parametrize(("size", "tile"), [(16, 256), (64, 256), (100, 300), (256, 256), (1024, 1024)])
def test_cells_are_at_least_256_px_by_a_whole_factor(size, tile):
    assert tile_size([noise(size)]) == tile


def test_a_small_image_is_scaled_up_nearest_so_its_pixels_stay_crisp():
    image = noise(16)
    sheet = contact_sheet([image], [Caption("1_0.png", "a red star", "7")])
    cell = np.asarray(sheet)[:MIN_TILE, :MIN_TILE]
    assert np.array_equal(cell, np.asarray(image).repeat(16, axis=0).repeat(16, axis=1))


def test_each_cell_has_a_caption_strip_with_its_own_text():
    images = [noise(16, 1), noise(16, 1)]
    sheet = contact_sheet(images, [Caption("1_0.png", "a red star", "7"), Caption("2_0.png", "a ring", "8")])
    strip = sheet.height - MIN_TILE
    assert sheet.size == (2 * MIN_TILE + 2, MIN_TILE + strip) and strip >= 24
    captions = np.asarray(sheet)[MIN_TILE:]
    left, right = captions[:, :MIN_TILE], captions[:, MIN_TILE + 2 :]
    assert len(np.unique(left.reshape(-1, 3), axis=0)) > 2  # text is drawn
    assert not np.array_equal(left, right)  # from each cell's own prompt and seed


def test_a_long_prompt_is_cut_to_the_cell_with_an_ellipsis():
    font = ImageFont.load_default(size=14)
    prompt = "a purple cross in the corner of a big yellow triangle, " * 4
    cut = fit(prompt, font, 248)
    assert cut.endswith(ELLIPSIS) and font.getlength(cut) <= 248
    assert prompt.startswith(cut[:-1].rstrip())
    assert fit("a red star\n", font, 248) == "a red star"


def test_a_landscape_image_keeps_its_aspect_ratio_centred_in_its_cell():
    pixels = np.random.default_rng(2).integers(0, 256, (16, 32, 3), dtype=np.uint8)  # 32 wide, 16 high
    sheet = np.asarray(
        contact_sheet([PIL.Image.fromarray(pixels)], [Caption("1_0.png", "a wide field", "1")])
    )
    cell = sheet[:MIN_TILE, :MIN_TILE]
    top = (MIN_TILE - 128) // 2  # scaled 8x to 256x128, centred vertically
    assert np.array_equal(cell[top : top + 128], pixels.repeat(8, axis=0).repeat(8, axis=1))
    assert (cell[:top] == BACKGROUND).all() and (cell[top + 128 :] == BACKGROUND).all()
