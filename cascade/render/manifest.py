"""`manifest.jsonl`: one JSON record a line, only ever appended, each one fsynced before the next.

A kill can tear at most the last line; `Manifest.open` drops that torn tail (so the next record starts
on a line of its own) and holds an exclusive lock, so two renders never write one folder. The latest
image record for a file name is the one that counts; a file is finished when it exists and its sha256
equals that record's. `RecordFile` is the mechanism alone; the kept verdicts (`verdicts.py`) use it
too.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Self

from cascade.errors import CascadeError
from cascade.render.writer import writing

MANIFEST_NAME = "manifest.jsonl"


class ManifestBusyError(CascadeError):
    """Another render holds the output folder."""


class RecordFile:
    """An append-only JSON-lines file with one writer: locked while open, a torn last line cut on open."""

    def __init__(self, path: Path, records: list[dict[str, Any]], damaged: list[int], handle) -> None:
        self.path = path
        self.records = records
        self.damaged = damaged  # line numbers of unreadable records other than a torn last line
        self._handle = handle

    @classmethod
    def open_file(cls, path: Path) -> Self:
        with writing(path):
            handle = open(path, "a+b", buffering=0)  # noqa: SIM115 (held for the run; closed by close())
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise ManifestBusyError(f"{path.parent}: another render is writing to this folder") from None
        handle.seek(0)
        data = handle.read()
        complete = data[: data.rfind(b"\n") + 1]
        if len(complete) < len(data):  # a torn last record: cut it so appends start on a fresh line
            with writing(path):
                handle.truncate(len(complete))
                os.fsync(handle.fileno())
        records, damaged = parse_records(complete)
        return cls(path, records, damaged, handle)

    def append(self, record: dict[str, Any], *, sync: bool = True) -> None:
        """Add `record` as one line (fsynced unless `sync` is off); a failed write leaves no part of it."""
        view = memoryview(json.dumps(record, ensure_ascii=False).encode() + b"\n")
        with writing(self.path):
            end = os.fstat(self._handle.fileno()).st_size
            try:
                while view:
                    view = view[self._handle.write(view) :]
                if sync:
                    os.fsync(self._handle.fileno())
            except OSError:
                with contextlib.suppress(OSError):
                    self._handle.truncate(end)
                raise
        self.records.append(record)

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Manifest(RecordFile):
    """The records of an output folder, and the only way to add to them."""

    @classmethod
    def open(cls, folder: Path) -> Manifest:
        return cls.open_file(folder / MANIFEST_NAME)

    def latest_images(self) -> dict[str, dict[str, Any]]:
        """File name -> its most recent image record."""
        return {r["file"]: r for r in self.records if r.get("type") == "image" and "file" in r}

    def rejections(self) -> set[tuple[str, str, str | None]]:
        return {
            (r["id"], r["prompt"], r.get("category")) for r in self.records if r.get("type") == "rejected"
        }


def read_records(folder: Path) -> list[dict[str, Any]]:
    """The readable records of a folder's manifest, without locking or repairing it (for readers)."""
    path = folder / MANIFEST_NAME
    return parse_records(path.read_bytes())[0] if path.is_file() else []


def parse_records(data: bytes) -> tuple[list[dict[str, Any]], list[int]]:
    records, damaged = [], []
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            record = None
        if isinstance(record, dict):
            records.append(record)
        elif number < len(lines):  # the unterminated last line is torn, not damaged
            damaged.append(number)
    return records, damaged


def sha256_file(path: Path) -> str | None:
    """The file's sha256, or None when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as file:
            for chunk in iter(lambda: file.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def is_verified(folder: Path, record: dict[str, Any]) -> bool:
    """The record's file is present and its bytes hash to the recorded sha256."""
    return sha256_file(folder / record["file"]) == record.get("sha256")
