"""Prompt files to typed lines: `.txt` (one prompt a line), `.jsonl` (objects) or `.csv` (a header row).

A line that cannot be read becomes a `BadLine` with its line number and the reason; the other lines are
still read. Only a file that cannot be read at all (missing, unknown suffix, a CSV header without a
`prompt` column or with unknown columns) raises `InputError`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cascade.errors import CascadeError, InvalidRequestError
from cascade.request import check_prompt, checked_size, parse_per_stage, parse_size

FORMATS = (".txt", ".jsonl", ".csv")
FIELDS = (
    "prompt",
    "id",
    "seed",
    "n",
    "size",
    "steps",
    "guidance",
    "negative_prompt",
    "image",
    "mask",
    "strength",
)
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")

PerStage = int | float | tuple[int | float, ...] | None


class InputError(CascadeError):
    """The prompt file as a whole cannot be read."""


@dataclass(frozen=True)
class PromptLine:
    """One prompt from the file; None means "use the run's setting"."""

    line: int  # 1-based line number in the file (where the record starts, for CSV)
    id: str  # the line's own id, or its line number
    prompt: str
    seed: int | None = None
    n: int | None = None
    size: int | tuple[int, int] | None = None
    steps: PerStage = None
    guidance: PerStage = None
    negative_prompt: str | None = None
    image: Path | None = None  # img2img from this picture; with `mask`, inpainting (paths as given,
    mask: Path | None = None  # relative to the prompt file's folder)
    strength: float | None = None


@dataclass(frozen=True)
class BadLine:
    line: int
    message: str


class LineError(ValueError):
    """Why one line was skipped."""


def unreadable(error: Exception) -> str:
    """The reason for a line that failed in a way no check foresaw (shortened: it may quote the line)."""
    text = f"{type(error).__name__}: {error}"
    return f"cannot be read ({text[:200]})"


def read_prompts(path: str | Path) -> tuple[list[PromptLine], list[BadLine]]:
    """Every readable line of `path`, and every unreadable one with its line number; ids are unique."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(
            f"{path}: prompt files must end in {', '.join(FORMATS)}, got {suffix or 'no suffix'!r}"
        )
    try:
        text = path.read_text(encoding="utf-8-sig", errors="surrogateescape")
    except OSError as error:
        raise InputError(f"{path}: cannot read the prompt file: {error.strerror or error}") from None
    records = {".txt": _txt_records, ".jsonl": _jsonl_records, ".csv": _csv_records}[suffix](text, path)
    lines: list[PromptLine] = []
    bad: list[BadLine] = []
    first_line_of: dict[str, int] = {}
    for number, fields in records:
        try:
            if isinstance(fields, LineError):
                raise fields
            line = _with_folder(_typed_line(number, fields), path.parent)
            if line.id in first_line_of:
                raise LineError(f"id: {line.id!r} is already used by line {first_line_of[line.id]}")
        except LineError as error:
            bad.append(BadLine(number, str(error)))
            continue
        except Exception as error:  # whatever else a line can raise, it costs that line only
            bad.append(BadLine(number, unreadable(error)))
            continue
        first_line_of[line.id] = number
        lines.append(line)
    return lines, bad


Record = tuple[int, "dict[str, Any] | LineError"]


def _physical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Numbered as an editor numbers them: only newlines end a line (read_text already folded CRLF)."""
    return enumerate(text.split("\n"), start=1)


def _txt_records(text: str, path: Path) -> Iterator[Record]:
    for number, raw in _physical_lines(text):
        if raw.strip():
            yield number, {"prompt": raw.strip()}


def _jsonl_records(text: str, path: Path) -> Iterator[Record]:
    for number, raw in _physical_lines(text):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as error:
            yield number, LineError(f"not valid JSON: {error.msg} at column {error.colno}")
            continue
        except RecursionError:
            yield number, LineError("not valid JSON: nested too deeply")
            continue
        except ValueError as error:  # an integer past Python's digit limit for int("...")
            yield number, LineError(f"not valid JSON: {str(error).split(';')[0]}")
            continue
        if not isinstance(value, dict):
            yield number, LineError(f"expected a JSON object, got {type(value).__name__}")
            continue
        unknown = sorted(set(value) - set(FIELDS))
        if unknown:
            yield number, LineError(f"unknown field(s) {unknown}; known: {list(FIELDS)}")
            continue
        yield number, value


def _csv_records(text: str, path: Path) -> Iterator[Record]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return
    columns = [name.strip() for name in header]
    unknown = sorted(set(columns) - set(FIELDS))
    if "prompt" not in columns or unknown:
        raise InputError(
            f"{path}: the header row must name a 'prompt' column and only known columns {list(FIELDS)}; "
            f"got {columns}"
        )
    start = reader.line_num + 1
    try:
        for cells in reader:
            number, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(columns):
                yield number, LineError(f"expected {len(columns)} cells, got {len(cells)}")
                continue
            yield number, _csv_fields(dict(zip(columns, cells, strict=True)))
    except csv.Error as error:  # an unterminated quote swallows the rest of the file
        yield start, LineError(f"not valid CSV: {error}")


_CSV_CASTS: dict[str, Callable[[str], Any]] = {
    **dict.fromkeys(("id", "size", "image", "mask"), str.strip),  # typed later, as in every format
    "guidance": float,
    "strength": float,
}


def _csv_fields(cells: dict[str, str]) -> dict[str, Any] | LineError:
    """Cells are text: empty means not given; numbers are parsed here, per-stage lists as "50,25,25",
    sizes ("32", "48x32") where every format's are."""
    fields: dict[str, Any] = {}
    for name, cell in cells.items():
        if name in ("prompt", "negative_prompt"):
            if name == "prompt" or cell != "":
                fields[name] = cell.strip() if name == "prompt" else cell
            continue
        if not cell.strip():
            continue
        cast = _CSV_CASTS.get(name, int)
        try:
            fields[name] = parse_per_stage(cell, cast) if name in ("steps", "guidance") else cast(cell)
        except ValueError:
            return LineError(f"{name}: expected {'a number' if name != 'id' else 'text'}, got {cell!r}")
    return fields


def _typed_line(number: int, fields: dict[str, Any]) -> PromptLine:
    """Types are checked here, exactly and without coercion; ranges are checked by GenerationRequest."""
    prompt = fields.get("prompt")
    if prompt is None:
        raise LineError("prompt: missing")
    _check_text("prompt", prompt)
    line_id = fields.get("id", number)
    if isinstance(line_id, int) and not isinstance(line_id, bool):
        line_id = str(line_id)
    if not isinstance(line_id, str) or not ID_PATTERN.fullmatch(line_id):
        raise LineError(
            f"id: must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit; "
            f"got {line_id!r}"
        )
    for name in ("seed", "n"):
        value = fields.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise LineError(f"{name}: must be an integer, got {value!r}")
    n = fields.get("n")
    if n is not None and n < 1:
        raise LineError(f"n: must be at least 1, got {n}")
    negative = fields.get("negative_prompt")
    if negative is not None:
        _check_text("negative_prompt", negative, allow_empty=True)
    return PromptLine(
        line=number,
        id=line_id,
        prompt=prompt,
        seed=fields.get("seed"),
        n=n,
        size=_size_value(fields.get("size")),
        steps=_per_stage_value("steps", fields.get("steps"), int),
        guidance=_per_stage_value("guidance", fields.get("guidance"), float),
        negative_prompt=negative,
        image=_file_value("image", fields.get("image")),
        mask=_file_value("mask", fields.get("mask")),
        strength=_strength_value(fields.get("strength")),
    )


def _file_value(name: str, value: object) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise LineError(f"{name}: must be a file path, got {value!r}")
    return Path(value.strip())


def _strength_value(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LineError(f"strength: must be a number, got {value!r}")
    return float(value)


def _with_folder(line: PromptLine, folder: Path) -> PromptLine:
    """The line with its picture paths relative to `folder` (the prompt file's), as a reader expects."""
    files = {name: folder / getattr(line, name) for name in ("image", "mask") if getattr(line, name)}
    return replace(line, **files) if files else line


def _size_value(value: object) -> int | tuple[int, int] | None:
    """A line's size: an integer side, a `"WxH"` string or a [width, height] list."""
    if value is None:
        return None
    try:
        if isinstance(value, str):
            return parse_size(value)
        if isinstance(value, list | int) and not isinstance(value, bool):
            return checked_size(value)
    except InvalidRequestError as error:
        raise LineError(str(error)) from None
    raise LineError(f"size: must be an integer, a 'WxH' string or a [width, height] list, got {value!r}")


def _check_text(name: str, value: object, *, allow_empty: bool = False) -> None:
    """The request boundary's own check (a string a tokenizer can take), as this line's error."""
    try:
        check_prompt(name, value, allow_empty=allow_empty)
    except InvalidRequestError as error:
        raise LineError(str(error)) from None


def _per_stage_value(name: str, value: object, kind: type) -> PerStage:
    """A number, or a non-empty list of numbers (one per stage); JSON lists become tuples."""
    items = value if isinstance(value, list | tuple) else [value]
    if value is None:
        return None
    allowed = (int,) if kind is int else (int, float)
    if not items or any(isinstance(v, bool) or not isinstance(v, allowed) for v in items):
        raise LineError(f"{name}: must be a number or a list of numbers (one per stage), got {value!r}")
    if kind is float:
        try:
            items = [float(v) for v in items]
        except OverflowError:
            raise LineError(f"{name}: must be a finite number, got an integer too large for one") from None
    return tuple(items) if isinstance(value, list | tuple) else items[0]
