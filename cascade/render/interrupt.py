"""Ctrl-C (SIGINT) during a render: stop cleanly, whatever the run is doing.

Before any job has gone to the engine (reading the folder, verifying images, loading the model,
screening the first line) there is nothing to finish, so Ctrl-C raises KeyboardInterrupt at once and
the run ends as interrupted. Once `arm()` is called (the first job is on its way), the first Ctrl-C
only sets `event`: nothing more is submitted, the batch in flight is finished and written. A second
Ctrl-C raises KeyboardInterrupt, stopping at once; completed writes are still whole either way.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

NOTICE = b"\ninterrupted: finishing the batch in flight (Ctrl-C again to stop now)\n"


class GracefulStop:
    """The handler, for the `with` block; in the main thread only (elsewhere it only holds `event`)."""

    def __init__(self, event: threading.Event | None = None) -> None:
        self.event = event or threading.Event()
        self._armed = False
        self._previous: Any = None

    def arm(self) -> None:
        self._armed = True

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        if not self._armed or self.event.is_set():
            self.event.set()
            raise KeyboardInterrupt
        self.event.set()
        os.write(2, NOTICE)

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
