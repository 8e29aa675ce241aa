"""Conversions between model tensors in [-1, 1], PIL images and image file bytes.

Files carry what made them: PNG as tEXt chunks, JPEG and WebP as EXIF (the prompt as ImageDescription,
every text field as JSON in UserComment), so a picture can be traced and re-made from its own file.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import PIL.Image
from PIL.PngImagePlugin import PngInfo

from cascade.errors import InvalidRequestError
from cascade.request import MAX_IMAGE_PIXELS

if TYPE_CHECKING:
    import torch

# File suffix to PIL format; what `cascade generate --out` accepts.
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
LOSSY_QUALITY = 95
_IMAGE_DESCRIPTION, _SOFTWARE, _EXIF_IFD, _USER_COMMENT = 0x010E, 0x0131, 0x8769, 0x9286
_ASCII_COMMENT = b"ASCII\0\0\0"  # EXIF's charset prefix for UserComment


def decode_picture(data: bytes, field: str, source: str = "the upload") -> PIL.Image.Image:
    """An input picture (PNG, JPEG, WebP, ...) fully decoded, or an InvalidRequestError naming `field`.
    Its size is checked against `MAX_IMAGE_PIXELS` from the header, before any pixel is decoded, so a
    small file cannot expand into a huge image."""
    try:
        with PIL.Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise InvalidRequestError(
                    field, f"must have at most {MAX_IMAGE_PIXELS} pixels, got {width}x{height}"
                )
            image.load()
            return image.copy()
    except (OSError, PIL.Image.DecompressionBombError, SyntaxError) as error:
        raise InvalidRequestError(field, f"cannot read {source} as an image: {error}") from None


def tensor_to_pil(image: torch.Tensor) -> PIL.Image.Image:
    """(1 or no batch, 3, H, W) in [-1, 1] to an RGB image, rounded the way diffusers' numpy_to_pil rounds."""
    array = (image.detach().float().cpu().reshape(-1, *image.shape[-2:]) / 2 + 0.5).clamp(0, 1)
    return PIL.Image.fromarray((array.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))


def pil_to_tensor(image: PIL.Image.Image) -> torch.Tensor:
    """An RGB image to (1, 3, H, W) in [-1, 1]."""
    import torch

    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0)


def picture_tensor(image: PIL.Image.Image, size: tuple[int, int]) -> torch.Tensor:
    """An input picture as IF's img2img pipelines prepare it: RGB, bicubic to `size` (width, height),
    (1, 3, H, W) in [-1, 1]."""
    bicubic = PIL.Image.Resampling.BICUBIC
    return pil_to_tensor(image.convert("RGB").resize(size, resample=bicubic, reducing_gap=None))


def mask_tensor(mask: PIL.Image.Image, size: tuple[int, int]) -> torch.Tensor:
    """An inpainting mask as IF's inpainting pipeline prepares it: grey, bicubic to `size` (width,
    height), 1 from 50% up, else 0; (1, 1, H, W)."""
    import torch

    grey = mask.convert("L").resize(size, resample=PIL.Image.Resampling.BICUBIC, reducing_gap=None)
    return (torch.from_numpy(np.asarray(grey, dtype=np.float32) / 255.0) >= 0.5).float()[None, None]


def encode_png(image: PIL.Image.Image, text: Mapping[str, object]) -> bytes:
    """PNG bytes with `text` as tEXt chunks; the same pixels and text give the same bytes."""
    info = PngInfo()
    for key, value in text.items():
        info.add_text(key, str(value))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def encode_image(image: PIL.Image.Image, format: str, text: Mapping[str, object]) -> bytes:
    """`image` as PNG, JPEG or WebP bytes (a value of FORMATS), with `text` in the file's metadata."""
    if format == "PNG":
        return encode_png(image, text)
    exif = PIL.Image.Exif()
    exif[_IMAGE_DESCRIPTION] = str(text.get("prompt", ""))
    exif[_SOFTWARE] = "imagen-cascade"
    comment = json.dumps({key: str(value) for key, value in text.items()})  # ASCII: non-ASCII is escaped
    exif.get_ifd(_EXIF_IFD)[_USER_COMMENT] = _ASCII_COMMENT + comment.encode("ascii")
    buffer = io.BytesIO()
    image.save(buffer, format=format, exif=exif, quality=LOSSY_QUALITY)
    return buffer.getvalue()


def read_text(image: PIL.Image.Image) -> dict[str, str]:
    """The text fields `encode_image` wrote into a file, whatever its format."""
    if getattr(image, "text", None):
        return dict(image.text)
    comment = image.getexif().get_ifd(_EXIF_IFD).get(_USER_COMMENT, b"")
    if isinstance(comment, str):
        comment = comment.encode("ascii", "replace")
    return json.loads(comment.removeprefix(_ASCII_COMMENT) or b"{}")
