"""Conversions between model tensors in [-1, 1], PIL images and PNG bytes."""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np
import PIL.Image
import torch
from PIL.PngImagePlugin import PngInfo


def tensor_to_pil(image: torch.Tensor) -> PIL.Image.Image:
    """(1 or no batch, 3, H, W) in [-1, 1] to an RGB image, rounded the way diffusers' numpy_to_pil rounds."""
    array = (image.detach().float().cpu().reshape(-1, *image.shape[-2:]) / 2 + 0.5).clamp(0, 1)
    return PIL.Image.fromarray((array.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))


def pil_to_tensor(image: PIL.Image.Image) -> torch.Tensor:
    """An RGB image to (1, 3, H, W) in [-1, 1]."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0)


def encode_png(image: PIL.Image.Image, text: Mapping[str, object]) -> bytes:
    """PNG bytes with `text` as tEXt chunks; the same pixels and text give the same bytes."""
    info = PngInfo()
    for key, value in text.items():
        info.add_text(key, str(value))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()
