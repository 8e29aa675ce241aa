"""Kept verdicts: `verdicts.jsonl` in the output folder, so a rerun does not screen a prompt again.

One record per screened prompt: the filter's identity, the sha256 of the prompt text, and the verdict
as the manifest writes it (`to_dict()`). A verdict is reused only for the same text under the same
identity (filtering.py), so a changed policy or word list finds nothing and screens afresh; a filter
failure is never kept. The file is a cache: deleting it costs one screening per line. Records are not
fsynced (a kill loses at most an unflushed one, screened again next time).
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

from cascade.render.manifest import RecordFile
from safety.verdict import SafetyVerdict

VERDICTS_NAME = "verdicts.jsonl"


class KeptVerdicts:
    """The verdicts earlier runs in this folder reached under filter `identity`, and new ones as they come."""

    def __init__(self, folder: Path, identity: str) -> None:
        self.identity = identity
        self._file = RecordFile.open_file(folder / VERDICTS_NAME)
        self._verdicts: dict[str, SafetyVerdict] = {}
        for record in self._file.records:
            if record.get("filter") == identity:
                with contextlib.suppress(KeyError, TypeError, AttributeError):  # not one we wrote
                    self._verdicts[record["prompt_sha256"]] = SafetyVerdict.from_dict(record["safety"])

    def get(self, prompt: str) -> SafetyVerdict | None:
        return self._verdicts.get(_key(prompt))

    def keep(self, prompt: str, verdict: SafetyVerdict) -> None:
        key = _key(prompt)
        record = {"filter": self.identity, "prompt_sha256": key, "safety": verdict.to_dict()}
        self._file.append(record, sync=False)
        self._verdicts[key] = verdict

    def close(self) -> None:
        self._file.close()


def _key(prompt: str) -> str:
    return hashlib.sha256(prompt.encode()).hexdigest()
