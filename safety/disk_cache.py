"""Where the filter keeps what is slow to build and depends only on its inputs, and how it writes there.

Entries live in `$CASCADE_CACHE` (default `~/.cache/imagen-cascade`) under a name hashed from exactly
the inputs they were built from, so a changed input gives a new name and a fresh build. A write goes to
a temporary file renamed into place (a reader never sees half an entry); an unwritable cache only costs
the rebuild next time.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

logger = logging.getLogger(__name__)


def cache_dir() -> Path:
    return Path(os.environ.get("CASCADE_CACHE") or Path.home() / ".cache" / "imagen-cascade")


def package_code() -> list[bytes]:
    """What every derived entry also depends on: the safety package's code (whole, to be sure) and the
    Python version."""
    return [*(path.read_bytes() for path in sorted(Path(__file__).parent.glob("*.py"))), sys.version.encode()]


def entry(kind: str, sources: Iterable[bytes], suffix: str) -> Path:
    """The cache file for `kind` built from `sources` (each hashed, then the hashes together)."""
    digest = hashlib.sha256()
    for part in sources:
        digest.update(hashlib.sha256(part).digest())
    return cache_dir() / f"{kind}-{digest.hexdigest()[:32]}{suffix}"


def store(path: Path, write: Callable[[str], None]) -> None:
    """`write(temporary_path)`, then the file renamed to `path`; a failure is logged, not raised."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as temp:
            name = temp.name
        try:
            write(name)
            os.replace(name, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)  # left only when the write or the rename failed
    except OSError as error:
        logger.info("could not cache %s in %s: %s", path.name, path.parent, error)
