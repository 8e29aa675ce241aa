"""One render run: see what the folder already holds, then screen and render the rest, record it.

The order of writes makes every kill safe: an image is written atomically, then its manifest record is
appended and fsynced. A kill between the two leaves a file with no record, which the next run renders
again (to the same bytes) and records; a file is only ever skipped when its bytes hash to its record.
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from cascade.errors import CascadeError
from cascade.render.filtering import PromptChecker, checker_identity
from cascade.render.grid import write_contact_sheets
from cascade.render.interrupt import GracefulStop
from cascade.render.local import Progress, Rendered
from cascade.render.manifest import Manifest, is_verified
from cascade.render.plan import ImageJob, LineJobs, LinePlan, batch_order
from cascade.render.progress import RenderBar
from cascade.render.screening import Screener
from cascade.render.verdicts import KeptVerdicts
from cascade.render.writer import make_folder, remove_temp_files, write_atomic

# A backend renders the jobs it pulls from the iterable (pulling is what screens them) until `stop`,
# yielding each image and, if it can, the denoising progress of images still in flight.
Backend = Callable[[Iterable[ImageJob], threading.Event], Iterator[Rendered | Progress]]
Report = Callable[[str], None]

EXIT_OK, EXIT_PROBLEMS, EXIT_INTERRUPTED = 0, 1, 130
INTERRUPTED = "interrupted; rerun the same command to resume"


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
        return text + (f" - {INTERRUPTED}" if self.interrupted else "")

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
    """Bring `out` to exactly the images `plans` describe; raises ConflictError before writing any, and
    OutputError (one line) when the folder cannot be written. Ctrl-C ends it as interrupted."""
    report = report or _stderr
    summary = Summary()
    done: set[str] = set()
    make_folder(out)
    identity = checker_identity(checker)
    screener: Screener | None = None
    with GracefulStop(stop) as ctrl_c:
        try:
            with Manifest.open(out) as manifest, _kept_verdicts(out, identity) as kept:
                for leftover in remove_temp_files(out):
                    report(f"removed {leftover.name}, left by an interrupted write")
                if manifest.damaged:
                    lines = manifest.damaged
                    report(f"warning: {manifest.path}: unreadable records on lines {lines} are ignored")
                done, todo = _resume_state(plans, out, manifest.latest_images(), overwrite, report)
                summary.skipped = len(done)
                total = sum(len(jobs) for _, jobs in todo)
                screener = Screener(checker, manifest, kept, report)

                def started() -> None:
                    ctrl_c.arm()  # the backend is ready: from here on Ctrl-C finishes the batch in flight
                    manifest.append({"type": "run", **(run_info or {}), "images": total})

                in_flight: dict[str, ImageJob] = {}
                jobs = screener.jobs(todo, ctrl_c.event)
                first = next(jobs, None)  # the backend (and its model) starts only if something is allowed
                if first is not None:
                    feed = _announced(chain([first], jobs), started, in_flight)
                    bar = RenderBar(total, enabled=progress)
                    with contextlib.closing(bar), contextlib.closing(backend(feed, ctrl_c.event)) as results:
                        for result in results:
                            if isinstance(result, Progress):
                                bar.advance(result.done)
                                continue
                            job = in_flight.pop(result.name)
                            written = _record(result, job, out, manifest, summary, report)
                            if written:
                                done.add(job.name)
                            bar.set_total(total - screener.held_back)
                            bar.finished(job.name, written=written)
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            if screener is not None:
                summary.rejected, summary.failed = screener.rejected, summary.failed + screener.failed
        summary.interrupted = summary.interrupted or ctrl_c.event.is_set()

    summary.files = [job.name for plan in plans for job in plan.jobs if job.name in done]
    if grid and not summary.interrupted and summary.files:
        sheets = write_contact_sheets(out, summary.files, grid)
        report(f"wrote {len(sheets)} contact sheet(s) in {out / 'grids'}")
    return summary


def _announced(
    jobs: Iterator[ImageJob], started: Callable[[], None], in_flight: dict[str, ImageJob]
) -> Iterator[ImageJob]:
    """`jobs`, calling `started()` before the first goes out and noting each in `in_flight` by name."""
    for count, job in enumerate(jobs):
        if count == 0:
            started()
        in_flight[job.name] = job
        yield job


def _kept_verdicts(out: Path, identity: str | None) -> contextlib.AbstractContextManager:
    """The folder's kept verdicts for this filter, or nothing when its identity is unknown."""
    return contextlib.closing(KeptVerdicts(out, identity)) if identity else contextlib.nullcontext()


def _resume_state(
    plans: Sequence[LinePlan], out: Path, latest: dict[str, dict], overwrite: bool, report: Report
) -> tuple[set[str], list[LineJobs]]:
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
    return done, batch_order(todo)


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
    record = _job_record("image", job) | job.settings() | job.files()
    record |= {
        "fingerprint": job.fingerprint,
        "sha256": hashlib.sha256(result.png).hexdigest(),
        "bytes": len(result.png),
        "safety": job.verdict.to_dict(),
    }
    manifest.append(record | ({"worker": result.worker} if result.worker else {}))
    summary.rendered += 1
    return True


def _job_record(kind: str, job: ImageJob) -> dict[str, Any]:
    return {"type": kind, "file": job.name, "line": job.line, "id": job.line_id, "index": job.index}


def _conflict(job: ImageJob, record: dict[str, Any]) -> Conflict:
    settings = job.settings()
    changed = tuple(key for key, value in settings.items() if record.get(key) != value) or ("fingerprint",)
    return Conflict(job.line, job.line_id, job.name, changed)


def _stderr(message: str) -> None:
    tqdm.write(message, file=sys.stderr)
