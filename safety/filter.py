"""The prompt filter: normalisation, word lists and the semantic layer, composed under a policy.

For each prompt:
1. `normalize` builds the Latin, Cyrillic and transliterated forms (evasions undone).
2. The lexicon finds list terms per category, minus allow-list phrases (policy terms included).
3. The semantic layer, when on, scores the prompt per category; a score at or above the category's
   threshold flags it, as does a policy exemplar within `similarity`. A list term decides alone
   unless it is marked ambiguous ("bloody mary", "ню", "swastika"): then, with the semantic layer on,
   it flags its category only where the score in context reaches the category's `context_threshold`
   (with the layer off it decides alone, as every term does).
4. Minors: a minors list term, or a minor marker next to any sexual signal (a sexual term, a
   suggestive term, or a semantic sexual score at or above sexual_minors' `context_threshold`) makes
   the prompt `sexual_minors`, blocked under every policy.
5. The policy decides: a flagged category whose action is "block" refuses the prompt. Several at
   once: sexual_minors first, then word-list evidence before semantic, then the higher score.

Only the request prompt is checked. A negative prompt steers generation away from what it names, so
"gore, nudity" there is not a request and is not filtered (see docs/SAFETY.md).
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from safety.lexicon import ALLOW, Hit, Lexicon, builtin_lexicon
from safety.normalize import Normalized, normalize
from safety.policy import ALWAYS_BLOCKED, Policy, default_policy, load_policy
from safety.russian_latin import from_translit, looks_russian
from safety.verdict import CATEGORIES, SafetyVerdict, default_message

__all__ = ["PromptFilter", "check", "default_filter"]

VERDICT_CACHE_SIZE = 4096


@dataclass(frozen=True)
class _Finding:
    category: str
    layer: str  # "lexicon", "semantic" or "policy"
    evidence: tuple[str, ...]
    score: float


class PromptFilter:
    """Checks prompts against a policy. `semantic=False` runs normalisation and word lists only."""

    def __init__(self, policy: Policy | str | Path | None = None, semantic: bool = True):
        if policy is None:
            policy = default_policy()
        elif not isinstance(policy, Policy):
            policy = load_policy(policy)
        self.policy = policy
        self.semantic = semantic and policy.semantic
        block = {name: c.block_terms for name, c in policy.categories.items() if c.block_terms}
        allow = [*policy.allow_terms, *(t for c in policy.categories.values() for t in c.allow_terms)]
        self.lexicon: Lexicon = (
            builtin_lexicon().with_terms(block, allow) if block or allow else builtin_lexicon()
        )
        self._verdicts: OrderedDict[Normalized, SafetyVerdict] = OrderedDict()
        self._lock = threading.Lock()  # the server screens from several threads

    def check(self, prompt: str) -> SafetyVerdict:
        """The verdict for one prompt."""
        return self.check_many([prompt])[0]

    def check_many(self, prompts: Sequence[str]) -> list[SafetyVerdict]:
        """Verdicts for many prompts; the sentence encoder runs on the ones not seen before as one batch.

        A verdict depends only on the prompt's normalised forms, so it is cached by them (LRU,
        `VERDICT_CACHE_SIZE`): a retried or repeated prompt, or one differing only in case, spacing or
        look-alike letters, costs no encoder call.
        """
        normalized = [normalize(p) for p in prompts]
        with self._lock:
            known = {n: self._verdicts[n] for n in normalized if n in self._verdicts}
        missing = list(dict.fromkeys(n for n in normalized if n not in known))
        if missing:
            known.update(zip(missing, self._screen(missing), strict=True))
        with self._lock:
            for form, verdict in known.items():
                self._verdicts[form] = verdict
                self._verdicts.move_to_end(form)
            while len(self._verdicts) > VERDICT_CACHE_SIZE:
                self._verdicts.popitem(last=False)
        return [known[n] for n in normalized]

    def _screen(self, normalized: list[Normalized]) -> list[SafetyVerdict]:
        hits = [self.lexicon.match(n) for n in normalized]
        scores: list[dict[str, float]] = [{} for _ in normalized]
        similar: list[dict[str, float]] = [{} for _ in normalized]
        if self.semantic:
            scores, similar = self._semantic(
                [semantic_text(n, h) for n, h in zip(normalized, hits, strict=True)]
            )
        return [self._decide(*row) for row in zip(hits, scores, similar, strict=True)]

    def _semantic(self, texts: list[str]) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
        from safety.semantic import screen

        exemplars = {
            name: settings.exemplars
            for name, settings in self.policy.categories.items()
            if settings.enabled and settings.exemplars
        }
        return screen(texts, exemplars)

    def _decide(
        self, hits: dict[str, list[Hit]], scores: dict[str, float], similar: dict[str, float]
    ) -> SafetyVerdict:
        policy = self.policy
        findings: dict[str, _Finding] = {}
        for name in CATEGORIES:
            settings = policy.category(name)
            terms = hits.get(name, [])
            decisive = [h for h in terms if not (self.semantic and h.term.ambiguous)]
            if decisive:
                layer = "policy" if all(h.term.source == "policy" for h in decisive) else "lexicon"
                findings[name] = _Finding(name, layer, _terms(decisive), 1.0)
            elif terms and scores.get(name, 0.0) >= settings.context_threshold:
                score = scores[name]
                context = f"semantic {name} score {score:.2f} >= {settings.context_threshold:.2f} in context"
                findings[name] = _Finding(name, "semantic", (*_terms(terms), context), score)
            elif name in scores and scores[name] >= settings.threshold:
                evidence = (f"semantic {name} score {scores[name]:.2f} >= {settings.threshold:.2f}",)
                findings[name] = _Finding(name, "semantic", evidence, scores[name])
            elif name in similar and similar[name] >= settings.similarity:
                evidence = (f"semantic similarity to a policy exemplar {similar[name]:.2f}",)
                findings[name] = _Finding(name, "semantic", evidence, similar[name])

        minors = self._minors(hits, scores, findings.get("sexual"))
        if minors is not None:
            findings[ALWAYS_BLOCKED] = minors

        active = [f for f in findings.values() if policy.category(f.category).enabled]
        blocking = [f for f in active if policy.blocks(f.category)]
        redact = policy.redact_evidence
        if blocking:
            chosen = min(blocking, key=_priority)
            message = policy.category(chosen.category).message or default_message(chosen.category)
            return SafetyVerdict(
                False, chosen.category, chosen.evidence, chosen.layer, message, scores, redact
            )
        if active:
            chosen = min(active, key=_priority)
            message = f"Allowed by policy (category: {chosen.category})."
            return SafetyVerdict(True, chosen.category, chosen.evidence, "policy", message, scores, redact)
        return SafetyVerdict(True, scores=scores, redact=redact)

    def _minors(
        self, hits: dict[str, list[Hit]], scores: dict[str, float], sexual: _Finding | None
    ) -> _Finding | None:
        if hits.get(ALWAYS_BLOCKED):
            terms = hits[ALWAYS_BLOCKED]
            layer = "policy" if all(h.term.source == "policy" for h in terms) else "lexicon"
            return _Finding(ALWAYS_BLOCKED, layer, _terms(terms), 1.0)
        markers = hits.get("minor_markers", [])
        if not markers:
            return None
        # A minor marker is context, like an ambiguous term: next to it a sexual score flags the prompt
        # from sexual_minors' context_threshold, well below what a score alone needs.
        threshold = self.policy.category(ALWAYS_BLOCKED).context_threshold
        signal = scores.get("sexual", 0.0)
        if sexual is not None:
            evidence, layer = sexual.evidence, sexual.layer
        elif hits.get("suggestive"):
            evidence, layer = _terms(hits["suggestive"]), "lexicon"
        elif self.semantic and signal >= threshold:
            evidence, layer = (f"semantic sexual score {signal:.2f} >= {threshold:.2f}",), "semantic"
        else:
            return None
        return _Finding(ALWAYS_BLOCKED, layer, (*evidence, *(f"minor: {t}" for t in _terms(markers))), 1.0)


def semantic_text(prompt: Normalized, hits: dict[str, list[Hit]]) -> str:
    """What the encoder reads: the Cyrillic form of a mostly Cyrillic prompt; Russian typed in Latin
    letters written back in Cyrillic; else the Latin skeleton (leetspeak and look-alikes undone every
    way), without the words of allow-list phrases, so "a killer whale" or "a murder of crows" is not
    read as violence."""
    if _cyrillic_share(prompt.folded) > 0.5:
        form, text = "cyrillic", prompt.cyrillic
    elif looks_russian(prompt.translit):
        form, text = "translit", from_translit(prompt.translit)
    else:
        form, text = "latin", prompt.latin
    words = text.split()
    masked = {i for h in hits.get(ALLOW, []) if h.form == form for i in range(h.start, h.end)}
    return " ".join(w for i, w in enumerate(words) if i not in masked)


def encoder_text(prompt: str) -> str:
    """`semantic_text` of a raw prompt under the built-in lists (how the classifier's data is read)."""
    normalized = normalize(prompt)
    return semantic_text(normalized, builtin_lexicon().match(normalized))


_LOOKALIKE_LATIN = set("aeopcxykmtbh")  # letters that stand in for Cyrillic ones: they decide nothing


def _cyrillic_share(text: str) -> float:
    """The Cyrillic share of the letters that show which script a prompt is in."""
    cyrillic = sum("\u0400" <= c <= "\u04ff" for c in text)
    latin = sum(c.isascii() and c.isalpha() and c not in _LOOKALIKE_LATIN for c in text)
    return cyrillic / max(cyrillic + latin, 1)


_LAYER_ORDER = {"lexicon": 0, "policy": 0, "semantic": 1}


def _priority(finding: _Finding) -> tuple[int, int, float, int]:
    return (
        finding.category != ALWAYS_BLOCKED,
        _LAYER_ORDER[finding.layer],
        -finding.score,
        CATEGORIES.index(finding.category),
    )


def _terms(hits: list[Hit]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(h.term.text for h in hits))


@functools.cache
def default_filter() -> PromptFilter:
    """The process-wide filter with the default policy and the semantic layer, built on first use."""
    return PromptFilter()


def check(prompt: str) -> SafetyVerdict:
    """Check one prompt with the default filter."""
    return default_filter().check(prompt)
