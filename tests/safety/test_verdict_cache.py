"""Verdicts are cached by the prompt's normalised forms: a repeated prompt costs no encoder call."""

from __future__ import annotations

from safety import filter as prompt_filter
from safety.filter import PromptFilter


def counting_filter(monkeypatch) -> tuple[PromptFilter, list[list[str]]]:
    calls: list[list[str]] = []

    def semantic(self, texts):
        calls.append(list(texts))
        return [{} for _ in texts], [{} for _ in texts]

    monkeypatch.setattr(PromptFilter, "_semantic", semantic)
    return PromptFilter(semantic=True), calls


def test_a_prompt_seen_before_skips_the_encoder(monkeypatch):
    screen, calls = counting_filter(monkeypatch)
    first = screen.check("a red star above a blue ring")
    again = screen.check_many(["a red star above a blue ring", "A  RED star above a blue ring", "a cat"])
    assert calls == [["a red star above a blue ring"], ["a cat"]]  # case and spacing normalise away
    assert again[0] == again[1] == first and first.allowed


def test_refusals_are_cached_and_stay_refusals(monkeypatch):
    screen, calls = counting_filter(monkeypatch)
    verdicts = [screen.check("a beheading video") for _ in range(3)]
    assert len(calls) == 1 and not any(v.allowed for v in verdicts)
    assert len({v.category for v in verdicts}) == 1


def test_the_cache_forgets_the_least_recently_used(monkeypatch):
    screen, calls = counting_filter(monkeypatch)
    monkeypatch.setattr(prompt_filter, "VERDICT_CACHE_SIZE", 2)
    for prompt in ("a red star", "a blue ring", "a red star", "a green heart", "a blue ring"):
        screen.check(prompt)
    # "a blue ring" was the least recently used when "a green heart" came, so it is screened again
    assert [c[0] for c in calls] == ["a red star", "a blue ring", "a green heart", "a blue ring"]
