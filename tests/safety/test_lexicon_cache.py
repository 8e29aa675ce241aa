"""The compiled word lists are kept on disk: reused only for the same lists and code, rebuilt when
either changes or the entry is damaged, and the filter works when the cache cannot be written."""

from __future__ import annotations

import logging
import shutil

import pytest

from safety import lexicon
from safety.normalize import normalize

PROMPTS = ["a naked child", "a red star above a blue ring", "п о в е с и л с я в сарае", "a g u n"]


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """An empty cache folder and no lexicon in memory; the memory cache is cleared again after."""
    monkeypatch.setenv("CASCADE_CACHE", str(tmp_path / "cache"))
    lexicon.builtin_lexicon.cache_clear()
    yield tmp_path / "cache"
    lexicon.builtin_lexicon.cache_clear()


def matches(lex: lexicon.Lexicon) -> list[dict]:
    return [lex.match(normalize(prompt)) for prompt in PROMPTS]


def entries(folder):
    return sorted(folder.glob("safety-lexicon-*.pickle"))


def test_a_second_process_loads_what_the_first_compiled(fresh, monkeypatch):
    built = lexicon.builtin_lexicon()
    assert len(entries(fresh)) == 1
    lexicon.builtin_lexicon.cache_clear()
    monkeypatch.setattr(lexicon, "_compile_builtin", lambda: pytest.fail("compiled although cached"))
    loaded = lexicon.builtin_lexicon()
    assert loaded is not built and matches(loaded) == matches(built)
    assert any(matches(loaded)[0].values())  # the cached lists still find what they should


def test_changed_lists_get_a_new_entry_and_their_new_term(fresh, tmp_path, monkeypatch):
    lexicon.builtin_lexicon()
    lists = tmp_path / "lists"
    shutil.copytree(lexicon.LEXICON_DIR, lists)
    with (lists / "violence.en.txt").open("a", encoding="utf-8") as file:
        file.write("\nzorblax\n")
    monkeypatch.setattr(lexicon, "LEXICON_DIR", lists)
    lexicon.builtin_lexicon.cache_clear()
    changed = lexicon.builtin_lexicon()
    assert len(entries(fresh)) == 2
    assert "violence" in changed.match(normalize("a zorblax on a hill"))


def test_a_damaged_entry_is_rebuilt_and_replaced(fresh, caplog):
    good = matches(lexicon.builtin_lexicon())
    [entry] = entries(fresh)
    entry.write_bytes(b"not a pickle")
    lexicon.builtin_lexicon.cache_clear()
    with caplog.at_level(logging.WARNING):
        assert matches(lexicon.builtin_lexicon()) == good
    assert "ignoring the cached lexicon" in caplog.text
    lexicon.builtin_lexicon.cache_clear()
    assert matches(lexicon.builtin_lexicon()) == good and entry.read_bytes() != b"not a pickle"


def test_an_unwritable_cache_only_costs_the_rebuild(fresh, monkeypatch):
    fresh.parent.mkdir(parents=True, exist_ok=True)
    fresh.write_text("a file where the cache folder should be")
    assert any(matches(lexicon.builtin_lexicon())[0].values())
