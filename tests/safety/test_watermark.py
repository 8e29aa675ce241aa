"""The invisible watermark survives PNG and JPEG quality 90 at 256 and 1024 px; 64 px is not marked."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from safety import watermark


def picture(size: int, seed: int = 0) -> Image.Image:
    """A photo-like image: colour gradients, a bright sky band and sensor-like noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    rgb = np.stack([200 * x + 30, 180 * y + 40, 120 * (1 - x) * y + 60], axis=-1)
    rgb[: size // 4] = [150, 190, 245]
    rgb += rng.normal(0, 6, rgb.shape)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


def saved(image: Image.Image, fmt: str, **options) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    buffer.seek(0)
    return Image.open(buffer)


@pytest.mark.parametrize("size", [256, 1024])
@pytest.mark.parametrize(("fmt", "options"), [("PNG", {}), ("JPEG", {"quality": 90})], ids=["png", "jpeg90"])
def test_a_marked_image_verifies_after_saving(size, fmt, options):
    marked = watermark.embed(picture(size))
    result = watermark.detect(saved(marked, fmt, **options))
    assert result.detected and result.status == "detected"
    assert result.bit_accuracy >= 0.95
    assert marked.info["watermark"] == f"dwtDct:{watermark.DEFAULT_PAYLOAD}"


@pytest.mark.parametrize("size", [256, 1024])
def test_an_unmarked_image_does_not_verify(size):
    result = watermark.detect(picture(size, seed=1))
    assert not result and result.status == "not_detected"
    assert result.bit_accuracy < watermark.MIN_BIT_ACCURACY


def test_another_payload_is_not_mistaken_for_ours():
    marked = watermark.embed(picture(256), payload="someone-else!!")
    assert not watermark.detect(marked)


def test_the_mark_is_invisible_enough():
    original = np.asarray(picture(256), dtype=float)
    marked = np.asarray(watermark.embed(picture(256)), dtype=float)
    psnr = 10 * np.log10(255**2 / np.mean((original - marked) ** 2))
    assert psnr > 35


def test_a_64px_image_is_too_small_and_left_unchanged():
    """dwtDct needs 256x256 pixels: 64x64 has 64 blocks for a 112-bit payload (docs/SAFETY.md)."""
    small = picture(64)
    out = watermark.embed(small)
    assert np.array_equal(np.asarray(out), np.asarray(small))
    assert out.info["watermark"].startswith("skipped: 64x64")
    assert not watermark.can_embed(small)
    assert watermark.detect(out).status == "too_small"


@pytest.mark.parametrize("colour", ["white", (255, 0, 255)], ids=["white", "saturated"])
def test_an_image_that_cannot_carry_the_mark_does_not_claim_it(colour):
    marked = watermark.embed(Image.new("RGB", (256, 256), colour))
    assert not watermark.detect(marked)
    assert marked.info["watermark"].startswith("none: the dwtDct mark did not read back")
