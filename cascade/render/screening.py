"""Screening as rendering asks for work: each line's prompt is screened when its first job is wanted.

So the first image of a 100k-line file does not wait for 100k verdicts, and a stopped run has
screened only what it got to. A line's verdict comes from the verdicts kept in the folder when there
is one for its text under this filter, else from the filter (and is then kept). It travels with each
of the line's jobs, so the engine does not screen them again. A filter that raises renders nothing
for its line (fail closed); a refusal is recorded in the manifest once, however often the line is
rerun.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace

from cascade.render.filtering import PromptChecker
from cascade.render.manifest import Manifest
from cascade.render.plan import ImageJob, LinePlan
from cascade.render.verdicts import KeptVerdicts
from safety.verdict import SafetyVerdict


class Screener:
    """One verdict per line; counts what it kept from rendering."""

    def __init__(
        self,
        checker: PromptChecker,
        manifest: Manifest,
        kept: KeptVerdicts | None,
        report: Callable[[str], None],
    ) -> None:
        self.checker = checker
        self.manifest = manifest
        self.kept = kept
        self.report = report
        self.rejected = 0  # lines the filter refused
        self.failed = 0  # images of lines the filter failed on
        self.held_back = 0  # images of both kinds
        self._recorded = manifest.rejections()

    def screen(self, plan: LinePlan) -> SafetyVerdict | None:
        """The line's verdict on its prompt (not its negative prompt); None when the filter failed."""
        line = plan.line
        where = f"line {line.line} (id {line.id!r})"
        verdict = self.kept.get(line.prompt) if self.kept else None
        if verdict is None:
            try:
                verdict = self.checker.check(line.prompt)
            except Exception as error:  # a broken filter must not let prompts through
                self.report(f"{where}: the prompt filter failed ({error!r}); not rendered")
                return None
            if self.kept:
                self.kept.keep(line.prompt, verdict)
        if not verdict.allowed:
            self.report(f"{where}: rejected by the prompt filter ({verdict.category})")
            self._record_rejection(plan, verdict)
        return verdict

    def jobs(
        self, todo: Iterable[tuple[LinePlan, list[ImageJob]]], stop: threading.Event
    ) -> Iterator[ImageJob]:
        """The allowed jobs of `todo`, each carrying its line's verdict, screened as they are asked for;
        ends early once `stop` is set."""
        for plan, jobs in todo:
            if stop.is_set():
                return
            verdict = self.screen(plan)
            if verdict is not None and verdict.allowed:
                yield from (replace(job, verdict=verdict) for job in jobs)
                continue
            self.held_back += len(jobs)
            if verdict is None:
                self.failed += len(jobs)
            else:
                self.rejected += 1

    def _record_rejection(self, plan: LinePlan, verdict: SafetyVerdict) -> None:
        line = plan.line
        if (line.id, line.prompt, verdict.category) in self._recorded:
            return
        self.manifest.append(
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
        self._recorded.add((line.id, line.prompt, verdict.category))
