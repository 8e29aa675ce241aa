"""Device and dtype choice: fp32 on CPU (safe), bf16 on CUDA (T5 overflows in fp16)."""

from __future__ import annotations

import torch

from cascade.errors import DeviceError

DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The device to load on: CUDA when there is one, else the CPU; an unusable choice is a DeviceError."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError):
        raise DeviceError(f"device must be cpu, cuda or cuda:N, got {device!r}") from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        build = "has no CUDA support" if torch.version.cuda is None else "finds no CUDA GPU"
        raise DeviceError(f"device {device!r}: this PyTorch ({torch.__version__}) {build}; use --device cpu")
    if chosen.type == "cuda" and chosen.index is not None and chosen.index >= torch.cuda.device_count():
        raise DeviceError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) here")
    return chosen


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    if dtype is None:
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return DTYPES[dtype]
    except KeyError:
        raise DeviceError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}") from None


def encoder_dtype(unet_dtype: torch.dtype) -> torch.dtype:
    """The text encoder never runs in fp16: T5 activations overflow there; bf16 keeps fp32's range."""
    return torch.bfloat16 if unet_dtype == torch.float16 else unet_dtype
