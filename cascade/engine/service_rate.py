"""How fast the engine finishes requests, measured, so a full queue can say when to come back.

`Retry-After` on `queue_full` is the time until enough slots free up: the slots a refused call needs,
divided by the measured completion rate (an exponential average of the intervals between completions
while the engine is busy; idle time is not counted). Before anything has finished it says nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class ServiceRate:
    def __init__(self, smoothing: float = 0.2, clock: Callable[[], float] = time.monotonic) -> None:
        self.smoothing = smoothing
        self.clock = clock
        self._last: float | None = None
        self._interval: float | None = None

    def busy(self) -> None:
        """Work arrived at an idle engine: the next interval starts now."""
        self._last = self.clock()

    def finished(self) -> None:
        now = self.clock()
        if self._last is not None:
            interval = now - self._last
            previous = self._interval
            self._interval = (
                interval if previous is None else previous + self.smoothing * (interval - previous)
            )
        self._last = now

    def seconds_for(self, completions: int) -> float | None:
        """Expected seconds until `completions` more requests finish, or None before any measurement."""
        return None if self._interval is None else completions * self._interval
