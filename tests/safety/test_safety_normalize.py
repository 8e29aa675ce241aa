"""The normaliser undoes every evasion in safety_evasions.py, and is total, idempotent and bounded."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safety.normalize import (
    MAX_GROWTH,
    cyrillic_form,
    fold,
    latin_form,
    latin_variants,
    normalize,
    translit_form,
    translit_key,
)
from tests.safety import safety_evasions as evasions

ENGLISH_WORDS = ("naked", "nudity", "decapitated", "suicide", "heroin", "massacre", "pedophile", "hentai")
RUSSIAN_WORDS = ("голая", "порно", "расчлененный", "самоубийство", "героин", "резня", "педофил", "наркотики")
SEEDS = range(8)


def skeleton(text: str) -> str:
    """`text` with runs of a repeated letter collapsed: what a repeat evasion leaves the matcher."""
    return re.sub(r"(.)\1+", r"\1", text)


def spellings(text: str) -> set[str]:
    """Every reading of a one-word text under the Latin skeleton (leetspeak's `1` is i or l)."""
    words = latin_variants(text)
    assert len(words) == 1, f"{text!r} normalised to {len(words)} words: {words}"
    return set(words[0])


@pytest.mark.parametrize("name", list(evasions.ENGLISH))
@pytest.mark.parametrize("word", ENGLISH_WORDS)
def test_english_evasions_normalise_back_to_the_word(name, word):
    evade = evasions.ENGLISH[name]
    for seed in SEEDS:
        disguised = evade(word, random.Random(seed))
        if name == "repeated":
            # Runs longer than three are cut to three; the matcher lets a prompt repeat more than a term.
            (latin,) = spellings(disguised)
            assert skeleton(latin) == skeleton(word) and not re.search(r"(.)\1\1\1", latin), disguised
        else:
            assert word in spellings(disguised), f"{name}: {disguised!r} -> {spellings(disguised)}"


@pytest.mark.parametrize("name", list(evasions.RUSSIAN))
@pytest.mark.parametrize("word", RUSSIAN_WORDS)
def test_russian_evasions_normalise_back_to_the_word(name, word):
    evade = evasions.RUSSIAN[name]
    for seed in SEEDS:
        disguised = evade(word, random.Random(seed))
        if name == "repeated":
            assert skeleton(cyrillic_form(disguised)) == skeleton(cyrillic_form(word)), disguised
        else:
            assert cyrillic_form(disguised) == cyrillic_form(word), f"{name}: {disguised!r}"


@pytest.mark.parametrize("word", RUSSIAN_WORDS)
def test_russian_typed_in_latin_letters_meets_the_russian_word(word):
    expected = skeleton(translit_key(translit_form(word)))
    for seed in SEEDS:
        typed = evasions.transliterate(word, random.Random(seed))
        assert skeleton(translit_key(translit_form(typed))) == expected, typed


def test_every_evasion_of_a_listed_word_is_blocked_as_its_category(lexical):
    words = {"naked": "sexual", "decapitated": "violence", "suicide": "self_harm", "heroin": "weapons_drugs"}
    words |= {
        "голая": "sexual",
        "расчлененный": "violence",
        "самоубийство": "self_harm",
        "героин": "weapons_drugs",
    }
    for word, category in words.items():
        table = evasions.RUSSIAN if word.isascii() is False else evasions.ENGLISH
        disguises = [evade(word, random.Random(seed)) for evade in table.values() for seed in SEEDS]
        if not word.isascii():
            disguises += [evasions.transliterate(word, random.Random(seed)) for seed in SEEDS]
        for disguised in disguises:
            verdict = lexical.check(f"a photo, {disguised}, at night")
            assert (verdict.allowed, verdict.category) == (False, category), disguised


@pytest.mark.parametrize(
    ("typed", "latin"),
    [
        ("ＮＵＤＥ", "nude"),  # full-width
        ("nu\u200bd\u2060e", "nude"),  # zero-width
        ("nаkеd", "naked"),  # Cyrillic а, е
        ("ηαked", "naked"),  # Greek
        ("n4k3d", "naked"),  # leetspeak
        ("n.u.d.e", "nude"),  # dotted
        ("g o r e", "gore"),  # spaced
        ("n-a-k-e-d", "naked"),  # dashed
        ("p.e.\ufeff.n.i.s", "penis"),  # zero-width in a letter slot of a dotted word
        ("a n.a.k.e.d", "a naked"),  # the article stays a word
        ("a 4-5 year old", "a 4 5 year old"),  # an age range is not a spaced-out word
    ],
)
def test_examples_from_the_module_docs(typed, latin):
    assert latin_form(typed) == latin


def test_one_letter_look_alike_between_russian_words_is_russian():
    assert cyrillic_form("покончить c собой") == cyrillic_form("покончить с собой")


# Letters, digits, leetspeak symbols, separators, look-alikes and invisible characters, so that
# the spacing and leetspeak rules meet each other often.
TRICKY = st.text(
    alphabet=st.sampled_from(list("nudeaig кгоая41@$!|. -_*\u200b\u00adＡα\u0301\ufdfa")), max_size=60
)
ANY_TEXT = st.text(max_size=200)
FORMS = (fold, latin_form, cyrillic_form, translit_form)


@settings(max_examples=300, deadline=None)
@given(st.one_of(ANY_TEXT, TRICKY))
def test_normalize_is_total_and_bounded(text):
    """Never raises; every form is at most MAX_GROWTH (18, NFKC's longest expansion) times the input."""
    forms = normalize(text)
    bound = MAX_GROWTH * len(text)
    for form in (forms.folded, forms.latin, forms.cyrillic, forms.translit, *forms.spaced):
        assert len(form) <= bound
    for word in forms.latin_variants:
        assert all(len(spelling) <= bound for spelling in word)


@settings(max_examples=300, deadline=None)
@given(st.one_of(ANY_TEXT, TRICKY))
def test_each_form_is_idempotent(text):
    for form in FORMS:
        once = form(text)
        assert form(once) == once, form.__name__
