"""Durable files: write to a temporary name, fsync, rename, fsync the folder.

A reader (or a rerun after a kill) sees either no file or the whole file, never a truncated one.
Temporary files are hidden (`.<name>.tmp-<pid>`); a kill can leave them behind, and the next run in
the folder removes them before it starts.
"""

from __future__ import annotations

import os
from pathlib import Path

TEMP_MARK = ".tmp-"


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash at any moment leaves the old file or the new one."""
    temp = path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    fsync_folder(path.parent)


def fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_temp_files(folder: Path) -> list[Path]:
    """Remove what interrupted writes left behind (only our own hidden temporary names)."""
    leftovers = [p for p in folder.glob(f".*{TEMP_MARK}*") if p.is_file()]
    for path in leftovers:
        path.unlink()
    return leftovers
