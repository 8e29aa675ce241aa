"""Invisible watermark for generated images: `embed`, `detect`, `verify_file`.

The scheme is invisible-watermark's dwtDct (`imwatermark.maxDct.EmbedMaxDct`, the method Stable
Diffusion XL uses): one Haar DWT level, then each payload bit in the largest coefficient of a 4x4
block of the low band, by quantisation with step `SCALE`, the payload repeated over the whole image.
Three changes make it survive what happens to images in practice:

- It marks luma (Y), not the U chroma channel SDXL marks: JPEG keeps luma at full resolution but
  halves chroma, and with the stock settings a mark did not survive PIL's JPEG at quality 90 at all.
- It works in floating point and rounds once at the end; the package writes float results into the
  uint8 image, where bright pixels wrap round to black and every value is truncated.
- A bit is written by raising the block's largest coefficient to the next value that encodes it, so
  that coefficient stays the largest one and the reader finds it again; a block too bright to be
  raised (near white) is left alone, and the reader skips such blocks instead of reading noise.

Measured on 256 and 1024 px images (tests/safety/test_watermark.py): every bit reads back after PNG and
after JPEG quality 90, at about 40 dB PSNR. It does not survive resizing, cropping or rotation, and it is
not a signature: anyone with this module can read it or write it. Marks written by SDXL's configuration
are not read by this one.

Detection compares the bits read with the payload's: the mark is present when at least
`MIN_BIT_ACCURACY` of them agree (chance is 0.5; 112 bits at 0.85 or more happen by chance with
probability below 1e-13).

Small images: below 256x256 pixels (`MIN_PIXELS`, imwatermark's own limit) there are too few blocks
to repeat the payload: a 64x64 image has 64 blocks for 112 bits. `embed` then returns an unchanged
copy with `image.info["watermark"]` set to "skipped: ..." and `detect` reports `status="too_small"`.
`embed` reads its own mark back before it says so in `image.info["watermark"]`; an image whose mark
does not read back (near white, or saturated) says "none: ..." instead.
A 64x64 stage-I preview is therefore never marked; the 256 and 1024 px outputs of the cascade are. An
image that is almost entirely pure white has no blocks that can carry bits and is not marked either
(`detect` then finds no mark).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pywt
from imwatermark.maxDct import EmbedMaxDct
from PIL import Image

__all__ = [
    "DEFAULT_PAYLOAD",
    "MIN_PIXELS",
    "WatermarkResult",
    "can_embed",
    "detect",
    "embed",
    "label",
    "verify_file",
]

DEFAULT_PAYLOAD = "imagen-cascade"
METHOD = "dwtDct"
MIN_PIXELS = 256 * 256  # imwatermark's own limit for dwtDct
MIN_BIT_ACCURACY = 0.85
SCALE = 36.0  # quantisation step in the low band, SDXL's value
_BLOCK = 4
_TOP = 510.0  # the largest low-band value: a 2x2 Haar average of 255, times 2
_ROOM = _TOP - 0.25 * SCALE  # blocks whose largest value reaches this carry no bit


@dataclass(frozen=True)
class WatermarkResult:
    """What `detect` found. Truthy when the payload was found."""

    detected: bool
    status: str  # "detected", "not_detected" or "too_small"
    bit_accuracy: float | None = None  # share of payload bits read back correctly
    payload: str | None = None  # the payload the bits decode to, when they are valid text

    def __bool__(self) -> bool:
        return self.detected


def can_embed(image: Image.Image) -> bool:
    """Whether the image is large enough for dwtDct (at least 256x256 pixels in area)."""
    width, height = image.size
    return width * height >= MIN_PIXELS


def embed(image: Image.Image, payload: str = DEFAULT_PAYLOAD) -> Image.Image:
    """A copy of `image` (as RGB) carrying `payload`; unchanged and flagged when it is too small."""
    rgb = image.convert("RGB")
    if not can_embed(rgb):
        out = rgb.copy()
        out.info["watermark"] = label(out, payload)
        return out
    yuv = cv2.cvtColor(np.asarray(rgb, dtype=np.float32) / 255.0, cv2.COLOR_RGB2YUV) * 255.0
    rows, cols = rgb.height // _BLOCK * _BLOCK, rgb.width // _BLOCK * _BLOCK
    low, details = pywt.dwt2(yuv[:rows, :cols, 0], "haar")
    bits = _bits(payload)
    _Embedder(bits.tolist(), len(bits), [SCALE, 0, 0]).encode_frame(low, SCALE)
    yuv[:rows, :cols, 0] = pywt.idwt2((low, details), "haar")
    marked = cv2.cvtColor(yuv / 255.0, cv2.COLOR_YUV2RGB) * 255.0
    out = Image.fromarray(np.clip(np.rint(marked), 0, 255).astype(np.uint8), "RGB")
    out.info["watermark"] = label(out, payload)
    return out


def label(image: Image.Image, payload: str = DEFAULT_PAYLOAD) -> str:
    """What `image.info["watermark"]` may say of `image`: the method and payload only when `detect`
    reads them back from these pixels (a saturated or near-white image can refuse the mark)."""
    result = detect(image, payload)
    if result.detected:
        return f"{METHOD}:{payload}"
    if result.status == "too_small":
        return f"skipped: {image.width}x{image.height} is below dwtDct's 256x256 minimum"
    return f"none: the {METHOD} mark did not read back ({result.bit_accuracy:.0%} of bits)"


def detect(image: Image.Image, payload: str = DEFAULT_PAYLOAD) -> WatermarkResult:
    """Look for `payload` in `image`."""
    rgb = image.convert("RGB")
    if not can_embed(rgb):
        return WatermarkResult(False, "too_small")
    expected = _bits(payload).astype(bool)
    luma = cv2.cvtColor(np.asarray(rgb, dtype=np.float32) / 255.0, cv2.COLOR_RGB2YUV)[:, :, 0] * 255.0
    rows, cols = rgb.height // _BLOCK * _BLOCK, rgb.width // _BLOCK * _BLOCK
    low, _ = pywt.dwt2(luma[:rows, :cols], "haar")
    reader = _Embedder([], len(expected), [SCALE, 0, 0])
    votes: list[list[int]] = [[] for _ in expected]
    blocks = (low[i : i + _BLOCK, j : j + _BLOCK] for i in range(0, low.shape[0] - _BLOCK + 1, _BLOCK)
              for j in range(0, low.shape[1] - _BLOCK + 1, _BLOCK))  # fmt: skip
    for number, block in enumerate(blocks):
        if block.flatten()[1:].max() < _ROOM:  # blocks `_Embedder` could not write are skipped
            votes[number % len(expected)].append(reader.infer_dct_matrix(block, SCALE))
    bits = np.array([bool(v) and np.mean(v) > 0.5 for v in votes])
    accuracy = float((bits == expected).mean())
    try:
        read = np.packbits(bits).tobytes().decode("utf-8")
    except UnicodeDecodeError:
        read = None
    found = accuracy >= MIN_BIT_ACCURACY
    return WatermarkResult(found, "detected" if found else "not_detected", accuracy, read)


def verify_file(path: str | Path, payload: str = DEFAULT_PAYLOAD) -> tuple[bool, str]:
    """(found, a one-line explanation) for an image file; for `cascade watermark verify IMAGE`."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            result = detect(image, payload)
            size = f"{image.width}x{image.height}"
    except FileNotFoundError:
        return False, f"{path}: no such file"
    except OSError as exc:  # not an image, or a truncated one
        return False, f"{path}: cannot read the image ({exc})"
    if result.status == "too_small":
        return False, f"{path}: {size} is too small to carry a watermark (needs 256x256 pixels)"
    share = f"{result.bit_accuracy:.0%} of {8 * len(payload.encode('utf-8'))} bits match"
    if result.detected:
        return True, f"{path}: watermark '{payload}' found ({share})"
    return False, f"{path}: no '{payload}' watermark ({share}; needs {MIN_BIT_ACCURACY:.0%})"


def _bits(payload: str) -> np.ndarray:
    return np.unpackbits(np.frombuffer(payload.encode("utf-8"), dtype=np.uint8))


class _Embedder(EmbedMaxDct):
    """dwtDct's block rule, changed so that the marked coefficient stays the block's largest."""

    def diffuse_dct_matrix(self, block: np.ndarray, wmBit: int, scale: float) -> np.ndarray:
        position = int(np.argmax(block.flatten()[1:])) + 1  # luma's low band is never negative
        i, j = divmod(position, self._block)
        value = block[i, j]
        target = (value // scale + 0.25 + 0.5 * wmBit) * scale
        if target < value:
            target += scale
        # Too bright to raise: lifted to the mark that tells the reader to skip the block.
        block[i, j] = target if target < _ROOM else max(value, _ROOM)
        return block
