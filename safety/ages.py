"""Ages under 18 given as a bare number: minor markers that no fixed phrase in the lists covers.

The lists (`lexicon/minor_markers.*.txt`) hold the fixed ways of writing an age: "12 year old",
"aged 12", "just turned 12", "12 лет". A bare number is an age only in context, and the contexts are
a grammar, not a vocabulary: "someone who is only nine", "she was 12 when", "a topless girl, barely
14", "ей всего 12", "которой 13". `find_ages` reads a number from 2 to 17 (digits or words) as an age
when

- a cue comes before it, with at most three qualifiers between ("is only just", "ей уже почти"):
  English, a copula whose subject can be a person ("who is", "she's", "I'm", "was", "turned"; not "it
  is", "there is"), or on its own "only", "barely", "merely", "just", "not even", "younger than";
  Russian, a dative pronoun ("ей", "ему", "мне", "которой") or "младше", "моложе", "исполнилось";
- and nothing follows that the number could be counting or measuring: the prompt ends, or the next
  word is a closed-class word (a conjunction, preposition, pronoun, article or adverb of time: "and",
  "with", "when", "now", "и", "когда"), a cue that begins the next clause ("ей 13, ему 15") or, in
  English, an -ing verb ("posing"). So "she is 6 feet
  tall", "who is one of the best", "10 out of 10", "5 months pregnant", "5 years older than her
  sister", "it's 5 in the morning" are not ages. "One" is never read as an age: it is too often a
  pronoun ("she is one in a million").

A marker blocks nothing alone; next to a sexual or suggestive signal it makes the prompt
`sexual_minors` (see `safety.filter`). The lexicon files what this finds under `minor_markers`.
English is read in the Latin form, Russian in the Cyrillic and the transliteration forms, with the
same normalisation as the prompt (the word sets below go through it too), so "n1ne" and "nine",
"ей" and "ej" meet.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

from safety.normalize import cyrillic_form, latin_form, translit_form, translit_key

__all__ = ["find_ages"]

_MAX_QUALIFIERS = 3

_EN_NUMBERS = (
    "two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen"
)
_RU_NUMBERS = (
    "два две три четыре пять шесть семь восемь девять десять одиннадцать двенадцать тринадцать "
    "четырнадцать пятнадцать шестнадцать семнадцать"
)


@dataclass(frozen=True)
class _Grammar:
    """The word sets of one language, as raw words (normalised per form when used)."""

    numbers: str
    copulas: str  # cues that need a subject that can be a person before them
    cues: str  # cues on their own
    cue_pairs: tuple[tuple[str, str], ...]  # two-word cues: ("younger", "than")
    non_persons: str  # a copula after one of these is not about a person's age
    qualifiers: str  # words allowed between the cue and the number
    followers: str  # words after which the number can still be an age
    ing_verbs: bool  # an -ing word after the number leaves it an age ("12 posing")


_ENGLISH = _Grammar(
    numbers=_EN_NUMBERS,
    copulas="is s was am m im are re were be being turned turns turning becomes became",
    cues="only barely merely just",
    cue_pairs=(("younger", "than"), ("not", "even")),
    non_persons="it there this which what here",
    qualifiers=(
        "only just barely merely about around almost nearly maybe probably like not even still already "
        "now really actually apparently supposedly allegedly roughly approximately younger than no older"
    ),
    followers=(
        "and or but nor so yet with without in on at by for from to into onto while whilst when where who "
        "whose because since as if though although she he her him his they them their i me my you your "
        "we our us the a an this these those now today tonight yesterday tomorrow already still last "
        "next ago here then too also"
    ),
    ing_verbs=True,
)
_RUSSIAN = _Grammar(
    numbers=_RU_NUMBERS,
    copulas="ей ему мне им тебе которой которому которым",
    cues="младше моложе исполнилось исполнится",
    cue_pairs=(),
    non_persons="",
    qualifiers=(
        "было будет исполнилось исполнится всего только лишь едва почти уже еще нет и не больше меньше "
        "около примерно где то вроде наверное буквально"
    ),
    followers=(
        "и а но или да с со в во на из у к по за когда пока где она он они ее его их я мы ты уже сейчас "
        "теперь тогда сегодня вчера недавно лет года год же"
    ),
    ing_verbs=False,
)


@dataclass(frozen=True)
class _Sets:
    numbers: frozenset[str]
    copulas: frozenset[str]
    cues: frozenset[str]
    cue_pairs: frozenset[tuple[str, str]]
    non_persons: frozenset[str]
    qualifiers: frozenset[str]
    followers: frozenset[str]
    ing_verbs: bool


# form -> (the grammar read in it, how a raw word of the grammar becomes a word of the form)
_FORMS: dict[str, tuple[_Grammar, Callable[[str], str]]] = {
    "latin": (_ENGLISH, latin_form),
    "cyrillic": (_RUSSIAN, cyrillic_form),
    "translit": (_RUSSIAN, translit_form),
}


@lru_cache(maxsize=65536)
def _key(form: str, token: str) -> str:
    """How a word of the form is compared: repeated letters collapsed ("onlyyy", "ееей"), a number
    kept as it is ("11"), Russian in Latin letters folded to one spelling ("ej", "ei", "ey")."""
    if token.isdigit():
        return token.lstrip("0") or "0"
    if form == "translit":
        token = translit_key(token)
    return "".join(c for k, c in enumerate(token) if k == 0 or c != token[k - 1])


@cache
def _sets(form: str) -> _Sets:
    grammar, normalise = _FORMS[form]

    def words(text: str) -> frozenset[str]:
        return frozenset(_key(form, w) for raw in text.split() for w in normalise(raw).split())

    pairs = {(a, b) for first, second in grammar.cue_pairs for a in words(first) for b in words(second)}
    return _Sets(
        numbers=words(grammar.numbers) | {str(n) for n in range(2, 18)},
        copulas=words(grammar.copulas),
        cues=words(grammar.cues),
        cue_pairs=frozenset(pairs),
        non_persons=words(grammar.non_persons),
        qualifiers=words(grammar.qualifiers),
        followers=words(grammar.followers),
        ing_verbs=grammar.ing_verbs,
    )


def find_ages(form: str, words: Sequence[tuple[str, ...]]) -> list[tuple[int, int]]:
    """Spans (first word, last word + 1) of bare ages under 18 with their cue, in one form of a prompt.

    `words` are the prompt's words in `form` ("latin", "cyrillic" or "translit"), each as its possible
    spellings (the lexicon's `latin_variants`, say); a word matches a set if any spelling does.
    """
    sets = _sets(form)
    keys = [{_key(form, s) for s in spellings} for spellings in words]
    if not any(key & sets.numbers for key in keys):
        return []
    spans = []
    for i, key in enumerate(keys):
        if not key & sets.numbers or not _free_after(sets, keys, words, i):
            continue
        start = _cue_before(sets, keys, i)
        if start is not None:
            spans.append((start, i + 1))
    return spans


def _free_after(sets: _Sets, keys: list[set[str]], words: Sequence[tuple[str, ...]], i: int) -> bool:
    """Nothing after word `i` that a number there would count or measure."""
    if i + 1 == len(keys):
        return True
    if keys[i + 1] & (sets.followers | sets.copulas):  # a copula begins the next clause: "ей 13, ему 15"
        return True
    return sets.ing_verbs and any(len(s) > 4 and s.endswith("ing") for s in words[i + 1])


def _cue_before(sets: _Sets, keys: list[set[str]], i: int) -> int | None:
    """Where the cue for the number at `i` begins, or None: walking back over qualifiers, a copula
    (with a subject that can be a person) wins, else the farthest cue that stands on its own."""
    alone = None
    for j in range(i - 1, max(-1, i - 2 - _MAX_QUALIFIERS), -1):
        if keys[j] & sets.copulas:
            person = j == 0 or not keys[j - 1] & sets.non_persons
            return j if person else None
        if keys[j] & sets.cues:
            alone = j
        elif j > 0 and any((a, b) in sets.cue_pairs for a in keys[j - 1] for b in keys[j]):
            alone = j - 1
        if not keys[j] & sets.qualifiers and not keys[j] & sets.cues:
            break
    return alone
