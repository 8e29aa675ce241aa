"""Fixed-shape U-Net forwards, so that an image's pixels do not depend on what shared its batch.

Batched kernels are not batch-invariant: on CPU, MKL's GEMM for a handful of rows (the time-embedding
layers) and oneDNN's convolutions choose their blocking by batch size, so one request's output moves by
about 1e-6 between a batch of 1 and a batch of 4, and after three stages and rounding an occasional PNG
pixel differs by 1 or 2. Running every forward on exactly `rows` rows (a batch is cut into chunks of
`rows` and the last chunk padded with copies of its last row) gives each row the same kernels whatever
its neighbours, which makes batch size, order and worker irrelevant to the bytes written. The price is
the padding: a chunk with fewer real rows costs as much as a full one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from cascade.stages import Stage


class FixedRowsUNet(torch.nn.Module):
    """Calls the wrapped U-Net on chunks of exactly `rows` rows; same call signature and outputs."""

    def __init__(self, unet: torch.nn.Module, rows: int) -> None:
        super().__init__()
        if rows < 1:
            raise ValueError(f"rows must be >= 1, got {rows}")
        self.unet = unet
        self.rows = rows

    @property
    def config(self) -> Any:
        return self.unet.config

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, *args: Any, **kwargs: Any) -> tuple:
        count = sample.shape[0]
        kwargs["return_dict"] = False
        outputs = []
        for start in range(0, count, self.rows):
            end = min(start + self.rows, count)
            chunk = [_rows(value, count, start, end, self.rows) for value in (sample, timestep, *args)]
            chunk_kwargs = {key: _rows(value, count, start, end, self.rows) for key, value in kwargs.items()}
            outputs.append(self.unet(*chunk, **chunk_kwargs)[0][: end - start])
        return (torch.cat(outputs),)


def _rows(value: Any, count: int, start: int, end: int, rows: int) -> Any:
    """Rows start:end of a per-row tensor, padded to `rows` with its last row; other values as they are."""
    if not isinstance(value, torch.Tensor) or value.ndim == 0 or value.shape[0] != count:
        return value
    part = value[start:end]
    missing = rows - (end - start)
    return torch.cat([part, part[-1:].expand(missing, *part.shape[1:])]) if missing else part


def fix_forward_rows(stages: Sequence[Stage], rows: int) -> None:
    """Make every one of `stages` run its U-Net on `rows`-row forwards (idempotent)."""
    for stage in stages:
        inner = stage.unet.unet if isinstance(stage.unet, FixedRowsUNet) else stage.unet
        stage.unet = FixedRowsUNet(inner, rows)
