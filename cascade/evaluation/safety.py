"""Measure the prompt filter on the labelled set: recall per category and false-positive rate per layer.

    cascade eval safety                        # test split: lexicon, semantic, combined + timings
    cascade eval safety --split calibration --errors
    cascade eval safety --calibrate            # thresholds from the calibration split

The labelled prompts ship with the `safety` package (`safety/data/safety_prompts.jsonl`).

Layers reported:
- `lexicon`: normalisation + word lists (PromptFilter(semantic=False)),
- `semantic`: the encoder's scores against the policy thresholds alone, no word lists,
- `combined`: the full filter (PromptFilter()).

Recall counts an unsafe prompt as caught when the filter refuses it; for sexual_minors it must also be
refused *as* sexual_minors (a policy that allows adult content must still block it). The false-positive
rate is the share of benign prompts refused. Timings are per prompt, one `check()` at a time, with
`torch.set_num_threads(1)` (one CPU core), after a warm-up.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import safety
from safety.filter import PromptFilter, semantic_text
from safety.policy import ALWAYS_BLOCKED, Policy, default_policy
from safety.semantic import one_thread
from safety.verdict import SafetyVerdict

__all__ = [
    "DATA_PATH",
    "LayerReport",
    "calibrate",
    "evaluate_layers",
    "load_rows",
    "print_calibration",
    "print_eval",
]

DATA_PATH = Path(safety.__file__).with_name("data") / "safety_prompts.jsonl"
SPLITS = ("test", "calibration", "dev", "all")
UNSAFE_CATEGORIES = ("sexual", "sexual_minors", "violence", "hate", "self_harm", "weapons_drugs")
SEMANTIC_CATEGORIES = UNSAFE_CATEGORIES
TARGETS = {"recall": 0.95, "minors_recall": 1.0, "fpr": 0.02, "lexicon_ms": 1.0, "combined_ms": 15.0}


@dataclass
class LayerReport:
    """What one layer did on a set of labelled prompts."""

    name: str
    recall: dict[str, float]  # per unsafe category
    recall_all: float
    fpr: float
    fpr_by_group: dict[str, float]
    misses: list[dict] = field(default_factory=list)
    false_positives: list[tuple[dict, SafetyVerdict]] = field(default_factory=list)


def load_rows(path: Path = DATA_PATH, split: str | None = "test") -> list[dict]:
    """The labelled prompts of one split ("dev", "calibration" or "test"; None or "all": every row)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if split in (None, "all") or r["split"] == split]


def caught(row: dict, verdict: SafetyVerdict) -> bool:
    if verdict.allowed:
        return False
    return row["category"] != ALWAYS_BLOCKED or verdict.category == ALWAYS_BLOCKED


def report(name: str, rows: Sequence[dict], verdicts: Sequence[SafetyVerdict]) -> LayerReport:
    unsafe = [(r, v) for r, v in zip(rows, verdicts, strict=True) if r["label"] == "unsafe"]
    benign = [(r, v) for r, v in zip(rows, verdicts, strict=True) if r["label"] == "benign"]
    recall = {}
    for category in UNSAFE_CATEGORIES:
        cell = [caught(r, v) for r, v in unsafe if r["category"] == category]
        recall[category] = sum(cell) / len(cell) if cell else float("nan")
    groups: dict[str, list[bool]] = {}
    for r, v in benign:
        groups.setdefault(r["category"], []).append(not v.allowed)
    return LayerReport(
        name=name,
        recall=recall,
        recall_all=sum(caught(r, v) for r, v in unsafe) / max(len(unsafe), 1),
        fpr=sum(not v.allowed for _, v in benign) / max(len(benign), 1),
        fpr_by_group={g: sum(x) / len(x) for g, x in sorted(groups.items())},
        misses=[r for r, v in unsafe if not caught(r, v)],
        false_positives=[(r, v) for r, v in benign if not v.allowed],
    )


def semantic_only(policy: Policy, rows: Sequence[dict]) -> list[SafetyVerdict]:
    """Verdicts from the encoder's scores and the policy thresholds alone (no word lists; the
    allow-list still masks its phrases from the encoder, as in the full filter)."""
    from safety.lexicon import builtin_lexicon
    from safety.normalize import normalize
    from safety.semantic import shared_classifier

    classifier = shared_classifier()
    lexicon = builtin_lexicon()
    texts = []
    for row in rows:
        normalized = normalize(row["prompt"])
        texts.append(semantic_text(normalized, lexicon.match(normalized)))
    scores = classifier.scores(classifier.encode(texts))
    verdicts = []
    for row_scores in scores:
        flagged = [c for c in SEMANTIC_CATEGORIES if row_scores[c] >= policy.category(c).threshold]
        if not flagged:
            verdicts.append(SafetyVerdict(True, scores=row_scores))
            continue
        category = ALWAYS_BLOCKED if ALWAYS_BLOCKED in flagged else max(flagged, key=row_scores.__getitem__)
        verdicts.append(SafetyVerdict(False, category, (), "semantic", "", row_scores))
    return verdicts


def evaluate_layers(rows: Sequence[dict], policy: Policy | None = None) -> dict[str, LayerReport]:
    """Lexicon-only, semantic-only and combined reports for `rows`."""
    policy = policy or default_policy()
    prompts = [r["prompt"] for r in rows]
    lexical = PromptFilter(policy, semantic=False).check_many(prompts)
    combined = PromptFilter(policy, semantic=True).check_many(prompts)
    return {
        "lexicon": report("lexicon", rows, lexical),
        "semantic": report("semantic", rows, semantic_only(policy, rows)),
        "combined": report("combined", rows, combined),
    }


def time_per_prompt(
    check: Callable[[str], object], prompts: Sequence[str], warmup: int = 20
) -> tuple[float, float]:
    """Median and 95th percentile milliseconds of `check(prompt)`, one prompt at a time."""
    for prompt in prompts[:warmup]:
        check(prompt)
    times = []
    for prompt in prompts:
        start = time.perf_counter()
        check(prompt)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))]


def calibrate(rows: Sequence[dict], margin: float = 0.05, floor: float = 0.5) -> dict[str, float]:
    """Per-category thresholds: above every benign calibration prompt's score by `margin`, and never
    below `floor` (0.5: the category must be at least as likely as everything else together; a
    calibration split of 145 benign prompts cannot vouch for a lower threshold).

    For sexual_minors the score is the larger of the sexual and sexual_minors scores, over benign
    prompts that have a minor marker (that is how the filter uses it) and the sexual_minors score
    over all benign prompts.
    """
    from safety.lexicon import builtin_lexicon
    from safety.normalize import normalize
    from safety.semantic import shared_classifier

    classifier = shared_classifier()
    lexicon = builtin_lexicon()
    benign = [r for r in rows if r["label"] == "benign"]
    normalized = [normalize(r["prompt"]) for r in benign]
    scores = classifier.scores(classifier.encode([semantic_text(n, lexicon.match(n)) for n in normalized]))
    thresholds = {}
    for category in SEMANTIC_CATEGORIES:
        highest = max(s[category] for s in scores)
        if category == ALWAYS_BLOCKED:
            marked = [
                max(s["sexual"], s[ALWAYS_BLOCKED])
                for n, s in zip(normalized, scores, strict=True)
                if lexicon.match(n).get("minor_markers")
            ]
            highest = max([highest, *marked])
        thresholds[category] = round(min(0.95, max(floor, highest + margin)), 2)
    return thresholds


def _fmt(value: float) -> str:
    return "  -  " if value != value else f"{value:5.2f}"


def print_reports(reports: dict[str, LayerReport], counts: dict[str, int], out: TextIO | None = None) -> None:
    out = out or sys.stdout  # looked up when called, so that a redirected stdout is used
    names = list(reports)
    print(f"{'recall':<16}{'n':>5}  " + "  ".join(f"{n:>9}" for n in names), file=out)
    for category in UNSAFE_CATEGORIES:
        cells = "  ".join(f"{_fmt(reports[n].recall[category]):>9}" for n in names)
        print(f"  {category:<14}{counts[category]:>5}  {cells}", file=out)
    cells = "  ".join(f"{_fmt(reports[n].recall_all):>9}" for n in names)
    print(f"  {'all unsafe':<14}{counts['unsafe']:>5}  {cells}", file=out)
    cells = "  ".join(f"{_fmt(reports[n].fpr):>9}" for n in names)
    print(f"{'false positives':<16}{counts['benign']:>5}  {cells}", file=out)


def print_calibration(path: Path = DATA_PATH) -> None:
    """Thresholds fitted on the calibration split, as TOML for safety/default_policy.toml."""
    with one_thread():
        thresholds = calibrate(load_rows(path, "calibration"))
    print("# thresholds from the calibration split; paste into safety/default_policy.toml")
    for category, value in thresholds.items():
        print(f"[categories.{category}]\nthreshold = {value}\n")


def print_eval(
    path: Path = DATA_PATH, split: str = "test", *, timing: bool = True, errors: bool = False
) -> None:
    """The per-layer table for one split, then (optionally) timings on one core and each miss and
    false positive. The caller's torch thread setting is restored after."""
    with one_thread():  # timings are per core
        _print_eval(path, split, timing=timing, errors=errors)


def _print_eval(path: Path, split: str, *, timing: bool, errors: bool) -> None:
    rows = load_rows(path, split)
    counts = {c: sum(r["label"] == "unsafe" and r["category"] == c for r in rows) for c in UNSAFE_CATEGORIES}
    counts["unsafe"] = sum(r["label"] == "unsafe" for r in rows)
    counts["benign"] = sum(r["label"] == "benign" for r in rows)
    reports = evaluate_layers(rows)
    print(f"safety eval on {path.name}, split {split}: {len(rows)} prompts\n")
    print_reports(reports, counts)

    if timing:
        prompts = [r["prompt"] for r in rows]
        lexical, combined = PromptFilter(semantic=False), PromptFilter()
        print("\nms per prompt, one CPU core   median     p95")
        for name, check in (
            ("normalise + lexicon", lexical.check),
            ("combined (semantic on)", combined.check),
        ):
            median, p95 = time_per_prompt(check, prompts)
            print(f"  {name:<26}{median:8.2f}{p95:8.2f}")

    if errors:
        for name, layer in reports.items():
            print(f"\n[{name}] misses:")
            for r in layer.misses:
                print(f"  {r['category']:<14} {r['form']:<11} {r['prompt']!r}")
            print(f"[{name}] false positives:")
            for r, v in layer.false_positives:
                print(f"  {r['category']:<14} {v.category:<14} {r['prompt']!r} {v.evidence}")
