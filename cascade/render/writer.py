"""Durable files: write to a temporary name, fsync, rename, fsync the folder.

A reader (or a rerun after a kill) sees either no file or the whole file, never a truncated one.
Temporary files are hidden (`.<name>.tmp-<pid>`); a kill can leave them behind, and the next run in
the folder removes them before it starts. A write that fails (a full disk, no permission, a file
where the folder should be) removes its temporary file and raises `OutputError`, one line that names
the path: the run stops there, and a rerun once the cause is fixed resumes it.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path

from cascade.errors import CascadeError

TEMP_MARK = ".tmp-"


class OutputError(CascadeError):
    """The output folder cannot be written to; nothing after the failed write was done."""


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn an OSError while writing `path` into an OutputError naming it and the cause."""
    try:
        yield
    except OSError as error:
        cause = error.strerror or str(error)
        raise OutputError(f"cannot write {path}: {cause}; fix that and rerun to resume") from None


def make_folder(folder: Path) -> None:
    with writing(folder):
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "it is a file, not a folder")
        folder.mkdir(parents=True, exist_ok=True)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash at any moment leaves the old file or the new one."""
    temp = path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}")
    with writing(path):
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, path)
        except OSError:
            with contextlib.suppress(OSError):  # a part-written file would only hold on to the full disk
                temp.unlink(missing_ok=True)
            raise
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
        with writing(path):
            path.unlink()
    return leftovers
