"""Word lists per category, matched on whole words of the normalised prompt, with an allow-list.

The lists live in `safety/lexicon/<list>.<lang>.txt`, one term a line:

    nude                      a word
    pipe bomb                 a phrase: these words next to each other
    decapitat*                `*` after the last word: any word that starts so (decapitated, decapitation)
    {kill|killing} {him|her}  alternatives, expanded to every combination
    ? bloody mary             ambiguous: harmless in many contexts (see below)
    # a comment

English terms are matched in the Latin skeleton (`Normalized.latin`); terms written in Cyrillic are
matched in the Cyrillic form and, transliterated, in the transliteration form (`Normalized.translit`).
Every term goes through the same normalisation as the prompt, so "n4k3d" and "naked" meet.

Matching is on whole words. In the Latin form a letter in the prompt may be repeated more than in
the term ("nuude" matches "nude") but not less ("as" does not match "ass"). In the Cyrillic form
vowels may repeat more, but a consonant must repeat as in the term unless it repeats three or more
times: Russian spells with double consonants, and "труппа" (a theatre troupe) is not "трупа". Every
spelling that ambiguous leetspeak allows is matched (`Normalized.latin_variants`: `1` as i and as
l, so "k1ll" and "b1ood" both meet their terms). In the transliteration form the usual spelling variants are
folded (see `normalize.translit_key`) and repeats are ignored.

Spaced-out phrases: where the prompt spaces out several words with the same separator
("h e i l h i t l e r"), the word boundaries are gone, so phrase terms are also looked for *inside*
the prompt with its spaces removed, wherever they overlap a run of joined letters
(`Normalized.spaced`), compared with repeats collapsed ("skinned a l i v e" meets "skinned alive").
Single-word terms are not looked for this way: inside a spaced word they are the Scunthorpe problem
again ("g r a p e s", "t h e r a p i s t"), and text away from the runs is never read this way.

Ambiguous terms (`Term.ambiguous`, a line marked `?`) are words that are harmful in one context and
harmless in many others: symbols ("swastika" on a Hindu temple), drink names ("a Screaming Orgasm
cocktail"), anatomy in a medical or culinary sense, words that name harm in a warning or a memorial
("антинаркотический плакат"). They are matched like any term; the filter lets them decide only
with the semantic layer's score in context (`safety.filter`). An unmarked term decides alone, and the
allow-list still removes true idioms ("kill the lights") before anything is decided.

A block match that lies inside an allow-list match ("kill" inside "kill the lights") is dropped.
The lists `minor_markers` and `suggestive` block nothing on their own: the filter uses them to decide
whether sexual content involves minors. Besides its list, `minor_markers` takes the bare ages under 18
that `safety.ages` reads in context ("someone who is only nine", "ей всего 12").
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import pickle
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from safety import disk_cache
from safety.ages import find_ages
from safety.normalize import Normalized, cyrillic_form, latin_form, translit_form, translit_key

__all__ = [
    "ALLOW",
    "AMBIGUOUS_MARK",
    "CONTEXT_LISTS",
    "Hit",
    "Lexicon",
    "Term",
    "builtin_lexicon",
    "parse_marked_terms",
    "parse_terms",
]

LEXICON_DIR = Path(__file__).with_name("lexicon")
logger = logging.getLogger(__name__)
CONTEXT_LISTS = ("minor_markers", "suggestive")
_MINOR_MARKERS = CONTEXT_LISTS[0]
ALLOW = _ALLOW = "allow"
_CYRILLIC = re.compile("[\u0400-\u04ff]")
AMBIGUOUS_MARK = "?"  # a list line that starts so holds ambiguous terms
_ALTERNATIVES = re.compile(r"\{([^{}]*)\}")
_TRANSLIT_STEM = 6  # letters a Russian stem needs to be matched in Latin letters (see Lexicon._add)
_RUNS = re.compile(r"(.)\1*")

# form name -> (how a prompt token becomes a key, how letter repeats must compare with the term's)
_FORMS = {
    "latin": (lambda token: token, "at_least"),
    "cyrillic": (lambda token: token, "consonants_exact"),
    "translit": (translit_key, "equal"),
}
_VOWELS = "аеиоуыэюяaeiouy"
# In the transliteration key i stands for и, й, ы, j and y: "golyi", "goly", "golyj" are one word.
_FREE_RUNS = "i"
_MIN_TRANSLIT = 4  # a one-word Russian term shorter than this is too likely an English word in Latin ("ню")


@dataclass(frozen=True)
class Term:
    """One entry of a list: `text` as written (the evidence), its category, where it came from."""

    text: str
    category: str
    source: str = "lexicon"  # "lexicon" (the built-in lists) or "policy" (added by a policy file)
    ambiguous: bool = False  # harmless in many contexts: defers to the semantic layer (see the module)


@dataclass(frozen=True)
class Hit:
    """A term found in one form of the prompt, over prompt words `start` to `end` (exclusive)."""

    term: Term
    form: str
    start: int
    end: int


@dataclass(frozen=True)
class _Word:
    skeleton: str  # the key with repeated letters collapsed
    runs: tuple[int, ...]  # how often each skeleton letter repeats
    prefix: bool = False


@dataclass(frozen=True)
class _Pattern:
    term: Term
    words: tuple[_Word, ...]


@lru_cache(maxsize=65536)
def _word(key: str, prefix: bool = False) -> _Word:
    runs = [m.group() for m in _RUNS.finditer(key)]
    return _Word("".join(r[0] for r in runs), tuple(len(r) for r in runs), prefix)


def _matches(pattern: _Word, word: _Word, runs: str) -> bool:
    if pattern.prefix:
        if not word.skeleton.startswith(pattern.skeleton):
            return False
    elif word.skeleton != pattern.skeleton:
        return False
    pairs = zip(word.runs, pattern.runs, strict=False)
    if runs == "at_least":
        return all(have >= need for have, need in pairs)
    last = len(pattern.runs) - 1
    if runs == "consonants_exact":
        return all(
            have == need
            or (have > need and (have >= 3 or letter in _VOWELS or (pattern.prefix and k == last)))
            for k, ((have, need), letter) in enumerate(zip(pairs, pattern.skeleton, strict=False))
        )
    # "equal": exact repeats ("seeks" is not "seks", "niger" not "nigger"), any number of i's.
    return all(
        have == need or letter in _FREE_RUNS or (pattern.prefix and k == last and have >= need)
        for k, ((have, need), letter) in enumerate(zip(pairs, pattern.skeleton, strict=False))
    )


def expand(term: str) -> list[str]:
    """Every spelling of a term with `{a|b}` alternatives."""
    parts = _ALTERNATIVES.split(term)
    choices = [[p] if i % 2 == 0 else p.split("|") for i, p in enumerate(parts)]
    return [" ".join("".join(combo).split()) for combo in itertools.product(*choices)]


def parse_terms(lines: Iterable[str]) -> list[str]:
    """Terms from the lines of a list file: comments and blank lines dropped, alternatives expanded
    (an `?` ambiguity marker is dropped too: see `parse_marked_terms`)."""
    return [term for term, _ in parse_marked_terms(lines)]


def parse_marked_terms(lines: Iterable[str]) -> list[tuple[str, bool]]:
    """Each term of a list file and whether its line starts with `?`: an ambiguous term."""
    terms: list[tuple[str, bool]] = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        ambiguous = line.startswith(AMBIGUOUS_MARK)
        line = line.removeprefix(AMBIGUOUS_MARK).strip()
        if line:
            terms.extend((t, ambiguous) for t in expand(line) if t.strip("* "))
    return terms


class Lexicon:
    """Compiled lists: `match(normalized)` returns the hits per category, allow-list applied."""

    def __init__(self, terms: Iterable[Term], allow: Iterable[Term] = ()):
        self.terms = tuple(terms)
        self.allow = tuple(allow)
        self._index = {form: _Index() for form in _FORMS}
        self._allow_index = {form: _Index() for form in _FORMS}
        self._inside: dict[str, dict[str, list[Term]]] = {form: {} for form in _FORMS}
        self._allow_inside: dict[str, dict[str, list[Term]]] = {form: {} for form in _FORMS}
        for term in self.terms:
            self._add(self._index, self._inside, term)
        for term in self.allow:
            self._add(self._allow_index, self._allow_inside, term)

    def with_terms(self, block: Mapping[str, Iterable[str]], allow: Iterable[str] = ()) -> Lexicon:
        """A copy with a policy's extra block terms (per category) and allow terms."""
        extra = [Term(t, category, "policy") for category, terms in block.items() for t in parse_terms(terms)]
        extra_allow = [Term(t, _ALLOW, "policy") for t in parse_terms(allow)]
        return Lexicon([*self.terms, *extra], [*self.allow, *extra_allow])

    def match(self, prompt: Normalized) -> dict[str, list[Hit]]:
        """Hits per category (context lists included), without those inside an allow-list match.

        The allow-list matches themselves are under "allow".
        """
        found: dict[str, list[Hit]] = {}
        latin = prompt.latin_variants or tuple((token,) for token in prompt.latin.split())
        spellings = {
            "latin": latin,
            "cyrillic": _cyrillic_spellings(prompt),
            "translit": [(token,) for token in prompt.translit.split()],
        }
        for form, (key, runs) in _FORMS.items():
            words = [tuple(_word(key(s)) for s in word) for word in spellings[form]]
            # Allow-list phrases are matched leniently: extra repeats never make a phrase less innocent.
            allowed = self._allow_index[form].find(words, "at_least", form)
            _keep(found, allowed, self._index[form].find(words, runs, form) + _ages(form, spellings[form]))
        for form in _FORMS if prompt.spaced else ():
            whole, spans, cuts = _spaced_spans(prompt, form)
            allowed = _find_inside(self._allow_inside[form], whole, spans, cuts, f"{form} spaced")
            _keep(found, allowed, _find_inside(self._inside[form], whole, spans, cuts, f"{form} spaced"))
        return found

    def _add(self, index: dict[str, _Index], inside: dict[str, dict[str, list[Term]]], term: Term) -> None:
        # Each word is normalised on its own so that a `*` (prefix) stays with its word.
        raw_words = [(w.rstrip("*"), w.endswith("*")) for w in term.text.split()]
        if _CYRILLIC.search(term.text) or term.category == _ALLOW:
            forms = ["cyrillic", "translit"] if _CYRILLIC.search(term.text) else ["latin", "translit"]
        else:
            forms = ["latin"]
        for form in forms:
            key = _FORMS[form][0]
            tokens: list[tuple[str, bool]] = []
            for raw, prefix in raw_words:
                parts = _NORMALISERS[form](raw).split()
                tokens.extend((p, prefix and i == len(parts) - 1) for i, p in enumerate(parts))
            if not tokens or (form == "translit" and len(tokens) == 1 and len(tokens[0][0]) < _MIN_TRANSLIT):
                continue
            words = tuple(_word(key(t), p) for t, p in tokens)
            if form == "translit" and term.category != _ALLOW and _short_stem(words):
                continue
            index[form].add(_Pattern(term, words))
            if len(words) > 1:
                joined = _word(key("".join(t for t, _ in tokens))).skeleton
                inside[form].setdefault(joined, []).append(term)


_NORMALISERS = {"latin": latin_form, "cyrillic": cyrillic_form, "translit": translit_form}


# Russian one-letter words. Spaced out with single spaces next to one ("п о в е с и л с я в сарае"),
# a word takes the letter in, so a joined run is also read without it.
_ONE_LETTER_WORDS = "вскуоиая"


def _cyrillic_spellings(prompt: Normalized) -> list[tuple[str, ...]]:
    """Per word of the Cyrillic form its spellings: a joined run also without a one-letter word at
    either end."""
    joined = {cyrillic_form(run) for run in prompt.spaced}
    words: list[tuple[str, ...]] = []
    for token in prompt.cyrillic.split():
        spellings = [token]
        if token in joined and len(token) >= 5 and _CYRILLIC.search(token):
            head, tail = token[0] in _ONE_LETTER_WORDS, token[-1] in _ONE_LETTER_WORDS
            spellings += [token[1:]] * head + [token[:-1]] * tail + [token[1:-1]] * (head and tail)
        words.append(tuple(spellings))
    return words


def _ages(form: str, spellings: Sequence[tuple[str, ...]]) -> list[Hit]:
    """Bare ages under 18 (`safety.ages`) as minor-marker hits; the evidence is the words as read."""
    return [
        Hit(Term(" ".join(spellings[k][0] for k in range(start, end)), _MINOR_MARKERS), form, start, end)
        for start, end in find_ages(form, spellings)
    ]


def _short_stem(words: tuple[_Word, ...]) -> bool:
    """A one-word Russian term with a short stem, not matched in Latin letters: such a stem begins
    English words ("пенис*" and "penistone", "детск*" and "deck"). In a phrase the other words
    make the match safe ("отрублен* голов*" in "otrublennaya golova")."""
    return len(words) == 1 and words[0].prefix and len(words[0].skeleton) < _TRANSLIT_STEM


def _keep(found: dict[str, list[Hit]], allowed: list[Hit], blocked: list[Hit]) -> None:
    """File the allow-list hits and the block hits that no allow-list hit covers."""
    if allowed:
        found.setdefault(_ALLOW, []).extend(allowed)
    for hit in blocked:
        if not any(a.start <= hit.start and hit.end <= a.end for a in allowed):
            found.setdefault(hit.term.category, []).append(hit)


def _spaced_spans(prompt: Normalized, form: str) -> tuple[str, list[tuple[int, int]], set[int]]:
    """The prompt's form with its spaces removed (repeats collapsed), where its spaced runs lie, and
    the offsets where a word of the form ends (a match may begin and end only there or in a run)."""
    key = _FORMS[form][0]
    words = getattr(prompt, form).split()
    whole = _word(key("".join(words))).skeleton
    cuts = {0}
    for k in range(len(words)):
        prefix = _word(key("".join(words[: k + 1]))).skeleton
        cuts.add(len(prefix))
        if k + 1 < len(words) and _word(key(words[k + 1])).skeleton[:1] == prefix[-1:]:
            cuts.add(len(prefix) - 1)  # "slit" + "the" is "slithe": the next word begins on the shared t
    spans: list[tuple[int, int]] = []
    position = 0
    for run in prompt.spaced:
        skeleton = _word(key("".join(_NORMALISERS[form](run).split()))).skeleton
        found = whole.find(skeleton, position) if skeleton else -1
        if found >= 0:
            spans.append((found, found + len(skeleton)))
            position = found + len(skeleton)
    return whole, spans, cuts


def _find_inside(
    table: dict[str, list[Term]], whole: str, spans: list[tuple[int, int]], cuts: set[int], form: str
) -> list[Hit]:
    """Terms inside `whole` that overlap a spaced run; start and end are letter offsets in `whole`.

    Outside the runs a term must begin and end where a word does (`cuts`): "k i l l himself" holds
    "kill himself", not "kill him"; and a term inside a longer one found there is dropped.
    """
    hits: set[Hit] = set()
    for first, last in spans:
        for start in range(max(0, first - _MAX_INSIDE + 1), last):
            if start < first and start not in cuts:
                continue
            for end in range(max(start + 2, first + 1), min(len(whole), start + _MAX_INSIDE) + 1):
                if end > last and end not in cuts:
                    continue
                hits.update(Hit(term, form, start, end) for term in table.get(whole[start:end], ()))
    # The longest reading wins: "kill h i m s e l f" is "kill himself", not also "kill him".
    longest = [
        h
        for h in hits
        if not any(o.start <= h.start and h.end <= o.end and o.end - o.start > h.end - h.start for o in hits)
    ]
    return sorted(longest, key=lambda h: (h.start, h.end, h.term.text))


_MAX_INSIDE = 60  # longest phrase looked for inside the spaced text; bounds the work on a long run


class _Index:
    """A trie over words: each edge is a term word (whole word or `*` prefix), terms end at nodes."""

    def __init__(self) -> None:
        self.children: dict[_Word, _Index] = {}
        self.exact: dict[str, list[_Word]] = {}  # skeleton -> edges with that whole word
        self.prefix: dict[str, list[_Word]] = {}  # skeleton -> edges with that prefix
        self.prefix_lengths: list[int] = []
        self.terms: list[Term] = []

    def add(self, pattern: _Pattern) -> None:
        node = self
        for word in pattern.words:
            if word not in node.children:
                node.children[word] = _Index()
                table = node.prefix if word.prefix else node.exact
                table.setdefault(word.skeleton, []).append(word)
                if word.prefix and len(word.skeleton) not in node.prefix_lengths:
                    node.prefix_lengths = sorted([*node.prefix_lengths, len(word.skeleton)])
            node = node.children[word]
        if pattern.term not in node.terms:
            node.terms.append(pattern.term)

    def find(self, words: list[tuple[_Word, ...]], runs: str, form: str) -> list[Hit]:
        """Terms over consecutive words, each word given as its possible spellings."""
        hits: list[Hit] = []
        for start in range(len(words)):
            stack: list[tuple[_Index, int]] = [(self, start)]
            while stack:
                node, i = stack.pop()
                hits.extend(Hit(term, form, start, i) for term in node.terms)
                if i < len(words):
                    edges = (edge for spelling in words[i] for edge in node._edges(spelling, runs))
                    stack.extend((node.children[edge], i + 1) for edge in dict.fromkeys(edges))
        return hits

    def _edges(self, word: _Word, runs: str) -> list[_Word]:
        edges = [e for e in self.exact.get(word.skeleton, ()) if _matches(e, word, runs)]
        for n in self.prefix_lengths:
            if n > len(word.skeleton):
                break
            edges.extend(e for e in self.prefix.get(word.skeleton[:n], ()) if _matches(e, word, runs))
        return edges


def read_list(name: str, directory: Path = LEXICON_DIR) -> list[tuple[str, bool]]:
    """The terms of one list, every language (`<name>.*.txt`), each with its ambiguity marker."""
    terms: list[tuple[str, bool]] = []
    for path in sorted(directory.glob(f"{name}.*.txt")):
        terms.extend(parse_marked_terms(path.read_text(encoding="utf-8").splitlines()))
    return terms


@lru_cache(maxsize=1)
def builtin_lexicon() -> Lexicon:
    """The shipped lists (every `safety/lexicon/*.txt`), compiled once per machine.

    Compiling normalises some 21k term variants (about 2 s); the result depends only on the lists and
    the code that compiles them (every `safety/*.py`, to be sure), so it is kept on disk under a key
    hashed from exactly those (`safety.disk_cache`) and loads in about 0.1 s. It is a pickle in the
    user's own cache folder, as trusted as the user's own `__pycache__`."""
    path = disk_cache.entry("safety-lexicon", [*list_sources(), *disk_cache.package_code()], ".pickle")
    try:
        with path.open("rb") as file, _no_gc():  # millions of small objects: the collector triples it
            return pickle.load(file)
    except FileNotFoundError:
        pass
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, TypeError) as error:
        logger.warning("ignoring the cached lexicon %s: %s", path, error)
    lexicon = _compile_builtin()
    disk_cache.store(
        path, lambda name: Path(name).write_bytes(pickle.dumps(lexicon, pickle.HIGHEST_PROTOCOL))
    )
    return lexicon


def list_sources() -> list[bytes]:
    """The shipped lists' bytes, for the keys of what is built from them."""
    return [path.read_bytes() for path in sorted(LEXICON_DIR.glob("*.txt"))]


def _compile_builtin() -> Lexicon:
    names = sorted({p.name.split(".", 1)[0] for p in LEXICON_DIR.glob("*.txt")})
    terms = [
        Term(t, name, ambiguous=ambiguous)
        for name in names
        if name != _ALLOW
        for t, ambiguous in read_list(name, LEXICON_DIR)
    ]
    return Lexicon(terms, [Term(t, _ALLOW) for t, _ in read_list(_ALLOW, LEXICON_DIR)])


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
