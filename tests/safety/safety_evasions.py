"""Evasions as an attacker writes them: each function disguises a word the way the issue lists.

Used by the normaliser tests (every evasion of a word must normalise back to it) and, once, to write
the obfuscated rows of the test split in safety/data/safety_prompts.jsonl from its plain rows. Each
function takes a `random.Random` so that the disguise varies (which letters, which look-alike) but is
reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Callable

# Latin letter -> characters that look like it.
CYRILLIC_FOR_LATIN = {
    "a": "а", "c": "с", "e": "е", "i": "і", "j": "ј", "k": "к", "o": "о", "p": "р", "s": "ѕ", "x": "х",
    "y": "у", "h": "һ", "d": "ԁ", "b": "Ь", "m": "м", "t": "т", "r": "г", "n": "п", "w": "ԝ",
}  # fmt: skip
GREEK_FOR_LATIN = {
    "a": "α", "b": "β", "e": "ε", "i": "ι", "k": "κ", "n": "η", "o": "ο", "p": "ρ", "t": "τ", "u": "υ",
    "v": "ν", "x": "χ", "y": "γ", "w": "ω", "s": "ѕ", "c": "ϲ", "z": "ζ",
}  # fmt: skip
LEET = {"a": "4@", "e": "3", "i": "1!", "o": "0", "s": "5$", "t": "7+", "g": "9", "b": "8", "l": "1"}
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
SEPARATORS = (" ", ".", "-", "_", "*", " . ", "  ")
# Cyrillic letter -> Latin letters that look like it (a Russian word typed with Latin and digits).
LATIN_FOR_CYRILLIC = {
    "а": "a@", "в": "B", "е": "e", "з": "3", "к": "k", "м": "m", "н": "H", "о": "o0", "р": "p",
    "с": "c", "т": "T", "у": "y", "х": "x", "б": "6", "ч": "4",
}  # fmt: skip
# Russian typed in Latin letters: the usual alternative spellings of each letter.
TRANSLIT = {
    "а": ["a"], "б": ["b"], "в": ["v"], "г": ["g"], "д": ["d"], "е": ["e"], "ё": ["e", "yo"],
    "ж": ["zh"], "з": ["z"], "и": ["i"], "й": ["y", "j", "i"], "к": ["k"], "л": ["l"], "м": ["m"],
    "н": ["n"], "о": ["o"], "п": ["p"], "р": ["r"], "с": ["s"], "т": ["t"], "у": ["u"], "ф": ["f"],
    "х": ["kh", "h", "x"], "ц": ["ts", "c", "tz"], "ч": ["ch"], "ш": ["sh"], "щ": ["shch", "sch"],
    "ъ": [""], "ы": ["y", "i"], "ь": ["", "'"], "э": ["e"], "ю": ["yu", "ju", "iu"], "я": ["ya", "ja", "ia"],
}  # fmt: skip


def case(word: str, rng: random.Random) -> str:
    """Random upper and lower case: "NuDE"."""
    return "".join(ch.upper() if rng.random() < 0.5 else ch for ch in word)


def fullwidth(text: str, rng: random.Random) -> str:
    """Full-width forms (U+FF01..): "ｎｕｄｅ"; spaces become the ideographic space."""
    return "".join(
        "\u3000" if ch == " " else chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text
    )


def zero_width(word: str, rng: random.Random) -> str:
    """Invisible characters between letters: "nu\u200bde"."""
    out = [word[0]]
    for ch in word[1:]:
        if rng.random() < 0.6:
            out.append(rng.choice(ZERO_WIDTH))
        out.append(ch)
    return "".join(out)


def _swap(word: str, table: dict[str, str], rng: random.Random, share: float) -> str:
    letters = [i for i, ch in enumerate(word) if ch.lower() in table]
    chosen = set(rng.sample(letters, max(1, round(share * len(letters))))) if letters else set()
    return "".join(rng.choice(table[ch.lower()]) if i in chosen else ch for i, ch in enumerate(word))


def cyrillic_homoglyphs(word: str, rng: random.Random) -> str:
    """Latin letters replaced by Cyrillic look-alikes: "nаkеd" (а, е Cyrillic)."""
    return _swap(word, CYRILLIC_FOR_LATIN, rng, 0.6)


def greek_homoglyphs(word: str, rng: random.Random) -> str:
    """Latin letters replaced by Greek look-alikes: "ηαked"."""
    return _swap(word, GREEK_FOR_LATIN, rng, 0.6)


def leet(word: str, rng: random.Random) -> str:
    """Digits and symbols for letters: "n4k3d", "pu$$y"."""
    return _swap(word, LEET, rng, 0.7)


def spaced(word: str, rng: random.Random) -> str:
    """Letters set apart by one separator: "n.u.d.e", "g o r e"."""
    return rng.choice(SEPARATORS).join(word)


def repeated(word: str, rng: random.Random) -> str:
    """Letters repeated: "nuuuuude"."""
    letters = [i for i, ch in enumerate(word) if ch.isalpha()]
    chosen = set(rng.sample(letters, min(len(letters), rng.randint(1, 2))))
    return "".join(ch * rng.randint(3, 7) if i in chosen else ch for i, ch in enumerate(word))


def latin_lookalikes(word: str, rng: random.Random) -> str:
    """A Russian word with Latin letters and digits that look Cyrillic: "гoлaя", "г0лая"."""
    return _swap(word, LATIN_FOR_CYRILLIC, rng, 0.5)


def transliterate(text: str, rng: random.Random) -> str:
    """Russian typed in Latin letters, one of the usual spellings per letter: "golaya", "golaja"."""
    return "".join(rng.choice(TRANSLIT[ch]) if ch in TRANSLIT else ch for ch in text.lower())


Evasion = Callable[[str, random.Random], str]
ENGLISH: dict[str, Evasion] = {
    "case": case,
    "fullwidth": fullwidth,
    "zero_width": zero_width,
    "homoglyph": cyrillic_homoglyphs,
    "greek": greek_homoglyphs,
    "leet": leet,
    "spaced": spaced,
    "repeated": repeated,
}
RUSSIAN: dict[str, Evasion] = {
    "case": case,
    "zero_width": zero_width,
    "homoglyph": latin_lookalikes,
    "spaced": spaced,
    "repeated": repeated,
}
