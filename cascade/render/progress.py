"""`cascade render`'s progress bar: it counts images, in fractions, as their denoising steps are done.

Each image is worth 1, spread over all its steps in every stage, so the bar moves with each engine step
rather than sitting at 0/4 until the first image is written: `1.7/4 img` is one image written and the
rest 70 % of one image further. The rate is images per second and the ETA follows from it. A backend
that reports no steps (Ray) moves it one whole image at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO

from tqdm.auto import tqdm

BAR_FORMAT = "{l_bar}{bar}| {n:.1f}/{total_fmt} img [{elapsed}<{remaining}, {rate_fmt}{postfix}]"


class RenderBar:
    """Images' worth of denoising done (`done`), of `total`, and how many were written or failed."""

    def __init__(self, total: int, *, enabled: bool = True, file: IO[str] | None = None, **tqdm_args):
        self.bar = tqdm(
            total=total,
            desc="render",
            unit="img",
            bar_format=BAR_FORMAT,
            disable=not enabled,
            file=file,
            **tqdm_args,
        )
        self.partial: dict[str, float] = {}  # images in flight: the fraction of their steps done
        self.written = 0
        self.failed = 0
        self._show()

    @property
    def done(self) -> float:
        return self.written + self.failed + sum(self.partial.values())

    def set_total(self, total: int) -> None:
        self.bar.total = total

    def advance(self, fractions: Mapping[str, float]) -> None:
        """Images in flight have taken steps: each name's fraction of its steps done (0 to 1)."""
        self.partial.update(fractions)
        self._show()

    def finished(self, name: str, *, written: bool) -> None:
        """An image was handed back: written, or failed (its work is done either way)."""
        self.partial.pop(name, None)
        if written:
            self.written += 1
        else:
            self.failed += 1
        self._show()

    def close(self) -> None:
        self.bar.close()

    def _show(self) -> None:
        text = f"{self.written} written" + (f", {self.failed} failed" if self.failed else "")
        self.bar.set_postfix_str(text, refresh=False)
        self.bar.update(self.done - self.bar.n)
