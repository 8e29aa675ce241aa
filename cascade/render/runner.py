"""One render run: see what the folder already holds, screen the prompts, render the rest, record it.

The order of writes makes every kill safe: an image is written atomically, then its manifest record is
appended and fsynced. A kill between the two leaves a file with no record, which the next run renders
again (to the same bytes) and records; a file is only ever skipped when its bytes hash to its record.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from cascade.errors import CascadeError
from cascade.render.filtering import PromptChecker
from cascade.render.grid import write_contact_sheets
from cascade.render.local import Rendered
from cascade.render.manifest import Manifest, is_verified
from cascade.render.plan import ImageJob, LinePlan, batch_order
from cascade.render.writer import remove_temp_files, write_atomic
from safety.verdict import SafetyVerdict

Backend = Callable[[list[ImageJob], threading.Event], Iterator[Rendered]]
Report = Callable[[str], None]

EXIT_OK, EXIT_PROBLEMS, EXIT_INTERRUPTED = 0, 1, 130


@dataclass
class Summary:
    rendered: int = 0  # images written by this run
    skipped: int = 0  # images already complete and verified
    rejected: int = 0  # lines the prompt filter rejected
    failed: int = 0  # images the engine could not render
    malformed: int = 0  # lines skipped as unreadable or invalid
    interrupted: bool = False
    files: list[str] = field(default_factory=list)  # every complete image, in input order

    def __str__(self) -> str:
        text = (
            f"rendered {self.rendered}, skipped {self.skipped} (already complete), "
            f"rejected {self.rejected} line(s), failed {self.failed}, malformed {self.malformed} line(s)"
        )
        return text + (" - interrupted; rerun the same command to resume" if self.interrupted else "")

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_PROBLEMS if self.failed or self.malformed else EXIT_OK


@dataclass(frozen=True)
class Conflict:
    line: int
    line_id: str
    file: str
    changed: tuple[str, ...]

    def __str__(self) -> str:
        changed = ", ".join(self.changed)
        return f"line {self.line} (id {self.line_id!r}): {self.file} was rendered with a different {changed}"


class ConflictError(CascadeError):
    """Outputs in the folder were rendered from other inputs or settings than this run asks for."""

    def __init__(self, conflicts: Sequence[Conflict]) -> None:
        shown = "\n  ".join(str(c) for c in conflicts[:20])
        more = f"\n  ... and {len(conflicts) - 20} more" if len(conflicts) > 20 else ""
        super().__init__(
            f"{len(conflicts)} image(s) in the output folder do not match this run's inputs:"
            f"\n  {shown}{more}\n"
            "nothing was rendered; rerun with --overwrite to replace them, or choose another --out folder"
        )
        self.conflicts = list(conflicts)


def render_plans(
    plans: Sequence[LinePlan],
    out: Path,
    backend: Backend,
    checker: PromptChecker,
    *,
    overwrite: bool = False,
    grid: int = 0,
    progress: bool = True,
    stop: threading.Event | None = None,
    run_info: dict[str, Any] | None = None,
    report: Report | None = None,
) -> Summary:
    """Bring `out` to exactly the images `plans` describe; raises ConflictError before writing any."""
    report = report or _stderr
    stop = stop or threading.Event()
    summary = Summary()
    out.mkdir(parents=True, exist_ok=True)
    with Manifest.open(out) as manifest:
        for leftover in remove_temp_files(out):
            report(f"removed {leftover.name}, left by an interrupted write")
        if manifest.damaged:
            report(f"warning: {manifest.path}: unreadable records on lines {manifest.damaged} are ignored")
        done, todo = _resume_state(plans, out, manifest.latest_images(), overwrite, report)
        summary.skipped = len(done)
        to_render: list[ImageJob] = []
        for plan, jobs in todo:
            verdict = _screen(plan, checker, manifest, report)
            if verdict is None:
                summary.failed += len(jobs)
            elif not verdict.allowed:
                summary.rejected += 1
            else:  # the verdict travels with each job: the engine does not screen again
                to_render.extend(replace(job, verdict=verdict) for job in jobs)
        if to_render:
            manifest.append({"type": "run", **(run_info or {}), "images": len(to_render)})
        by_name = {job.name: job for job in to_render}
        bar = tqdm(total=len(to_render), unit="img", desc="render", disable=not (progress and to_render))
        try:
            with bar, contextlib.closing(backend(batch_order(to_render), stop)) as results:
                for result in results:
                    job = by_name[result.name]
                    if _record(result, job, out, manifest, summary, report):
                        done.add(job.name)
                    bar.update(1)
        except KeyboardInterrupt:
            summary.interrupted = True
        summary.interrupted = summary.interrupted or stop.is_set()

    summary.files = [job.name for plan in plans for job in plan.jobs if job.name in done]
    if grid and not summary.interrupted and summary.files:
        sheets = write_contact_sheets(out, summary.files, grid)
        report(f"wrote {len(sheets)} contact sheet(s) in {out / 'grids'}")
    return summary


def _resume_state(
    plans: Sequence[LinePlan], out: Path, latest: dict[str, dict], overwrite: bool, report: Report
) -> tuple[set[str], list[tuple[LinePlan, list[ImageJob]]]]:
    """The complete images (same fingerprint, file present, sha256 matches) and each line's others;
    ConflictError if any image was recorded with another fingerprint, unless `overwrite`."""
    conflicts = [
        _conflict(job, latest[job.name])
        for plan in plans
        for job in plan.jobs
        if job.name in latest and latest[job.name].get("fingerprint") != job.fingerprint
    ]
    if conflicts and not overwrite:
        raise ConflictError(conflicts)
    stale = set(latest) - {job.name for plan in plans for job in plan.jobs}
    if stale:
        report(f"note: {len(stale)} image(s) in the manifest are not part of this run (e.g. {min(stale)})")
    done: set[str] = set()
    todo = []
    for plan in plans:
        jobs = []
        for job in plan.jobs:
            record = latest.get(job.name)
            if record is None or record.get("fingerprint") != job.fingerprint:
                jobs.append(job)
            elif is_verified(out, record):
                done.add(job.name)
            else:
                report(f"re-rendering {job.name}: the file is missing or does not match its sha256")
                jobs.append(job)
        if jobs:
            todo.append((plan, jobs))
    return done, todo


def _record(
    result: Rendered,
    job: ImageJob,
    out: Path,
    manifest: Manifest,
    summary: Summary,
    report: Report,
) -> bool:
    """Write the image, then its record; or record the failure. True when an image was written."""
    if result.png is None:
        summary.failed += 1
        report(f"line {job.line} (id {job.line_id!r}): {job.name} failed: {result.error}")
        manifest.append(_job_record("failed", job) | {"error": result.error})
        return False
    write_atomic(out / job.name, result.png)
    record = _job_record("image", job) | job.settings()
    record |= {
        "fingerprint": job.fingerprint,
        "sha256": hashlib.sha256(result.png).hexdigest(),
        "bytes": len(result.png),
        "safety": job.verdict.to_dict(),
    }
    manifest.append(record | ({"worker": result.worker} if result.worker else {}))
    summary.rendered += 1
    return True


def _screen(
    plan: LinePlan, checker: PromptChecker, manifest: Manifest, report: Report
) -> SafetyVerdict | None:
    """The filter's verdict on the line's prompt (not its negative prompt); None when the filter failed,
    which renders nothing (fail closed). A rejection is recorded once, however often the line is rerun."""
    line = plan.line
    try:
        verdict = checker.check(line.prompt)
    except Exception as error:  # a broken filter must not let prompts through
        report(f"line {line.line} (id {line.id!r}): the prompt filter failed ({error!r}); not rendered")
        return None
    if not verdict.allowed:
        report(f"line {line.line} (id {line.id!r}): rejected by the prompt filter ({verdict.category})")
        if (line.id, line.prompt, verdict.category) not in manifest.rejections():
            manifest.append(
                {
                    "type": "rejected",
                    "line": line.line,
                    "id": line.id,
                    "prompt": line.prompt,
                    "category": verdict.category,
                    "images": len(plan.jobs),
                    "safety": verdict.to_dict(),
                }
            )
    return verdict


def _job_record(kind: str, job: ImageJob) -> dict[str, Any]:
    return {"type": kind, "file": job.name, "line": job.line, "id": job.line_id, "index": job.index}


def _conflict(job: ImageJob, record: dict[str, Any]) -> Conflict:
    settings = job.settings()
    changed = tuple(key for key, value in settings.items() if record.get(key) != value) or ("fingerprint",)
    return Conflict(job.line, job.line_id, job.name, changed)


class GracefulStop:
    """Ctrl-C once: set `event` (the backend finishes the batch in flight, its images are written, the
    run stops). Ctrl-C again: KeyboardInterrupt, stopping at once; completed writes are still whole."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._previous: Any = None

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        self.event.set()
        os.write(2, b"\ninterrupted: finishing the batch in flight (Ctrl-C again to stop now)\n")

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _stderr(message: str) -> None:
    tqdm.write(message, file=sys.stderr)
