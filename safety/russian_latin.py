"""Russian typed in Latin letters ("zhenshchinu dushat", leetspeak and mixed scripts undone): recognise it
and write it back in Cyrillic, because the sentence encoder understands Russian but not its
transliteration; English must stay as it is: hence the recogniser.

The recogniser is a character-trigram naive Bayes model with two classes, fitted on the dev split of the
labelled prompts only (the same split the classifiers learn from): the transliterated form of every
Russian prompt against the Latin form of every English one. The spelling back inverts the common
scheme of `safety.normalize` (longest letter group first: shch, zh, kh, ts, ch, sh, yu, ya, yo).
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections import Counter
from pathlib import Path

from safety import disk_cache
from safety.labelled import DATA_PATH, FIT_SPLIT, load_rows
from safety.normalize import normalize

__all__ = ["from_translit", "looks_russian"]

_BACK = {
    "shch": "щ", "sch": "щ", "zh": "ж", "kh": "х", "ts": "ц", "ch": "ч", "sh": "ш", "yu": "ю",
    "ya": "я", "yo": "ё", "ye": "е", "iy": "ий", "yy": "ый", "a": "а", "b": "б", "v": "в", "g": "г",
    "d": "д", "e": "е", "z": "з", "i": "и", "y": "ы", "k": "к", "l": "л", "m": "м", "n": "н", "o": "о",
    "p": "п", "r": "р", "s": "с", "t": "т", "u": "у", "f": "ф", "h": "х", "c": "ц", "x": "кс", "j": "й",
    "w": "в", "q": "к",
}  # fmt: skip
_GROUP = re.compile("|".join(sorted(_BACK, key=len, reverse=True)))


def from_translit(text: str) -> str:
    """Latin-letter Russian written back in Cyrillic, letter group by letter group."""
    return _GROUP.sub(lambda match: _BACK[match.group(0)], text)


def looks_russian(translit: str) -> bool:
    """Whether a prompt's transliterated form (`Normalized.translit`) reads as Russian rather than English."""
    russian, english = _model()
    grams = _trigrams(translit)
    evidence = sum(russian.get(g, russian[None]) - english.get(g, english[None]) for g in grams)
    return bool(grams) and evidence > 0


def _trigrams(text: str) -> list[str]:
    return [f" {w} "[k : k + 3] for w in text.split() for k in range(len(w))]


@functools.cache
def _model() -> tuple[dict[str | None, float], dict[str | None, float]]:
    """Per class, each trigram's smoothed log-probability (key None: a trigram never seen). Counting
    normalises every dev prompt (about half a second), so the counts are cached on disk."""
    path = disk_cache.entry(
        "safety-russian-latin", [DATA_PATH.read_bytes(), *disk_cache.package_code()], ".json"
    )
    try:
        counts = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        counts = _count(DATA_PATH)
        disk_cache.store(path, lambda name: Path(name).write_text(json.dumps(counts), encoding="utf-8"))
    vocabulary = len(counts["ru"].keys() | counts["en"].keys()) + 1
    models = []
    for name in ("ru", "en"):
        total = sum(counts[name].values()) + vocabulary
        model: dict[str | None, float] = {g: math.log((n + 1) / total) for g, n in counts[name].items()}
        model[None] = math.log(1 / total)
        models.append(model)
    return models[0], models[1]


def _count(data: Path) -> dict[str, dict[str, int]]:
    """Trigram counts of the dev split: Russian prompts' transliterated form, English ones' Latin form."""
    counts = {"ru": Counter(), "en": Counter()}
    for row in load_rows(data, FIT_SPLIT):
        if row["lang"] in counts:
            forms = normalize(row["prompt"])
            counts[row["lang"]].update(_trigrams(forms.translit if row["lang"] == "ru" else forms.latin))
    return {name: dict(counter) for name, counter in counts.items()}
