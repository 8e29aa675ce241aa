"""The safety filter's answer: `SafetyVerdict`, and `PromptRejected` for callers that raise."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["CATEGORIES", "LAYERS", "PromptRejected", "SafetyVerdict", "default_message"]

# The categories a verdict can name. `sexual_minors` is always blocked, whatever the policy says.
CATEGORIES = ("sexual", "sexual_minors", "violence", "hate", "self_harm", "weapons_drugs", "custom")
# Which part of the filter decided: the word lists, the sentence encoder, or a term the policy added.
LAYERS = ("lexicon", "semantic", "policy")

_MESSAGES = {
    "sexual": "This prompt asks for sexual content or nudity, which this service does not generate.",
    "sexual_minors": "This prompt was blocked: sexual content involving minors is never generated.",
    "violence": "This prompt asks for graphic violence or gore, which this service does not generate.",
    "hate": "This prompt contains hateful or harassing content, which this service does not generate.",
    "self_harm": "This prompt describes self-harm or suicide, which this service does not generate. "
    "If you are struggling, please reach out to someone you trust or a local crisis line.",
    "weapons_drugs": "This prompt asks for weapon-making or illegal drug content, "
    "which this service does not generate.",
    "custom": "This prompt matches content this service has chosen not to generate.",
}


def default_message(category: str) -> str:
    """The user-facing message for a blocked category; names the category, never the matched words."""
    text = _MESSAGES.get(category, "This prompt was blocked by the content policy.")
    return f"{text} (category: {category})"


@dataclass(frozen=True)
class SafetyVerdict:
    """Whether a prompt may be rendered, and why.

    `category` is set when something was found: for a block, and for a category the policy allows
    (then `allowed` is true and `layer` is "policy"). `evidence` names the matched list terms or the
    semantic score; it can contain a slur, so `to_dict()` writes `redacted()` evidence unless
    `redact` is false (the policy's `redact_evidence`). `scores` are the semantic layer's per-category
    scores in [0, 1], empty when it did not run.
    """

    allowed: bool
    category: str | None = None
    evidence: tuple[str, ...] = ()
    layer: str | None = None
    message: str = ""
    scores: dict[str, float] = field(default_factory=dict, hash=False)
    redact: bool = True

    def redacted(self) -> SafetyVerdict:
        """The same verdict with the evidence reduced to "layer:category" (no matched words)."""
        evidence = (f"{self.layer}:{self.category}",) if self.category else ()
        return replace(self, evidence=evidence)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SafetyVerdict:
        """The verdict `to_dict` wrote (its evidence as written: redacted unless `redact` was off)."""
        return cls(
            allowed=data["allowed"],
            category=data["category"],
            evidence=tuple(data["evidence"]),
            layer=data["layer"],
            message=data["message"],
            scores=dict(data["scores"]),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict for manifests; evidence redacted when `redact` is set."""
        shown = self.redacted() if self.redact else self
        return {
            "allowed": self.allowed,
            "category": self.category,
            "layer": self.layer,
            "evidence": list(shown.evidence),
            "message": self.message,
            "scores": {k: round(v, 4) for k, v in self.scores.items()},
        }


class PromptRejected(Exception):
    """Raised by callers that refuse a prompt; `str()` is the user-facing message, `.verdict` the rest."""

    def __init__(self, verdict: SafetyVerdict):
        self.verdict = verdict
        message = verdict.message or default_message(verdict.category or "unknown")
        super().__init__(message)
