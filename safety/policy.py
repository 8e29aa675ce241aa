"""The filter's policy as data: a TOML file of categories, actions, thresholds and extra terms.

A policy file lists only what it changes; everything else keeps the value in
`safety/default_policy.toml` (terms are added to the built-in lists, never replace them). The format
is documented in that file and in docs/SAFETY.md. Errors name the offending key:

    >>> load_policy("my.toml")
    PolicyError: my.toml: unknown key 'categories.violence.treshold' (expected one of: action, ...)

`sexual_minors` cannot be switched off or allowed: such a setting is overridden with a warning.
"""

from __future__ import annotations

import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from safety.verdict import CATEGORIES

__all__ = ["CategoryPolicy", "Policy", "PolicyError", "default_policy", "load_policy", "parse_policy"]

DEFAULT_POLICY_PATH = Path(__file__).with_name("default_policy.toml")
ACTIONS = ("block", "allow")
ALWAYS_BLOCKED = "sexual_minors"


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class CategoryPolicy:
    """What to do about one category."""

    enabled: bool = True  # detect it at all
    action: str = "block"  # "block", or "allow" (reported in the verdict, not refused)
    threshold: float = 0.5  # semantic score at or above which the semantic layer flags it
    context_threshold: float = 0.5  # the score at which an ambiguous list term flags it
    block_terms: tuple[str, ...] = ()  # added to the built-in list (lexicon syntax)
    allow_terms: tuple[str, ...] = ()  # innocent phrases, added to the allow-list
    exemplars: tuple[str, ...] = ()  # descriptions; a prompt this similar to one is flagged
    similarity: float = 0.75  # cosine similarity for `exemplars`
    message: str | None = None  # user-facing message; default names the category


@dataclass(frozen=True)
class Policy:
    """Per-category settings plus global allow terms; build with `load_policy` or `default_policy`."""

    categories: Mapping[str, CategoryPolicy]
    allow_terms: tuple[str, ...] = ()
    semantic: bool = True
    redact_evidence: bool = True
    source: str = "<default>"
    notes: tuple[str, ...] = field(default=(), compare=False)  # settings that were overridden

    def category(self, name: str) -> CategoryPolicy:
        return self.categories[name]

    def blocks(self, name: str) -> bool:
        """Whether a detection of `name` refuses the prompt."""
        settings = self.categories[name]
        return settings.enabled and settings.action == "block"


_CATEGORY_KEYS: dict[str, tuple[type, ...]] = {
    "enabled": (bool,),
    "action": (str,),
    "threshold": (int, float),
    "context_threshold": (int, float),
    "block_terms": (list,),
    "allow_terms": (list,),
    "exemplars": (list,),
    "similarity": (int, float),
    "message": (str,),
}
_FILTER_KEYS: dict[str, tuple[type, ...]] = {
    "semantic": (bool,),
    "redact_evidence": (bool,),
    "allow_terms": (list,),
}
_TOP_KEYS = ("version", "filter", "categories")


def load_policy(path: str | Path) -> Policy:
    """Read a policy TOML file on top of the default policy."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(f"{path}: policy file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{path}: not valid TOML: {exc}") from None
    return parse_policy(data, source=str(path), base=default_policy())


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    """The shipped policy, `safety/default_policy.toml`."""
    data = tomllib.loads(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))
    base = Policy({name: CategoryPolicy() for name in CATEGORIES})
    return parse_policy(data, source=str(DEFAULT_POLICY_PATH), base=base)


def parse_policy(data: Mapping[str, Any], source: str = "<policy>", base: Policy | None = None) -> Policy:
    """A policy from parsed TOML, each setting overriding `base` (the default policy if not given)."""
    base = base or default_policy()
    _check_keys(data, _TOP_KEYS, source, "")
    version = data.get("version", 1)
    if version != 1:
        raise PolicyError(f"{source}: 'version' must be 1, got {version!r}")

    settings = _table(data, "filter", source)
    _check_keys(settings, _FILTER_KEYS, source, "filter.")
    for key, value in settings.items():
        _check_type(value, _FILTER_KEYS[key], source, f"filter.{key}")

    categories = dict(base.categories)
    notes: list[str] = []
    for name, table in _table(data, "categories", source).items():
        where = f"categories.{name}"
        if name not in CATEGORIES:
            raise PolicyError(
                f"{source}: unknown category '{where}' (expected one of: {', '.join(CATEGORIES)})"
            )
        if not isinstance(table, Mapping):
            raise PolicyError(f"{source}: '{where}' must be a table ([{where}])")
        _check_keys(table, _CATEGORY_KEYS, source, where + ".")
        categories[name] = _category(categories[name], table, source, where)

    minors = categories[ALWAYS_BLOCKED]
    if not minors.enabled or minors.action != "block":
        note = f"{source}: '{ALWAYS_BLOCKED}' is always enabled and blocked; the policy's setting is ignored"
        warnings.warn(note, stacklevel=3)
        notes.append(note)
        categories[ALWAYS_BLOCKED] = replace(minors, enabled=True, action="block")

    return Policy(
        categories=categories,
        allow_terms=base.allow_terms
        + tuple(_strings(settings.get("allow_terms", []), source, "filter.allow_terms")),
        semantic=settings.get("semantic", base.semantic),
        redact_evidence=settings.get("redact_evidence", base.redact_evidence),
        source=source,
        notes=base.notes + tuple(notes),
    )


def _category(current: CategoryPolicy, table: Mapping[str, Any], source: str, where: str) -> CategoryPolicy:
    changes: dict[str, Any] = {}
    for key, value in table.items():
        _check_type(value, _CATEGORY_KEYS[key], source, f"{where}.{key}")
        if key == "action" and value not in ACTIONS:
            raise PolicyError(f"{source}: '{where}.action' must be one of {ACTIONS}, got {value!r}")
        if key in ("threshold", "context_threshold", "similarity"):
            if not 0.0 <= float(value) <= 1.0:
                raise PolicyError(f"{source}: '{where}.{key}' must be a number from 0 to 1, got {value!r}")
            value = float(value)
        if key in ("block_terms", "allow_terms", "exemplars"):
            value = getattr(current, key) + tuple(_strings(value, source, f"{where}.{key}"))
        changes[key] = value
    return replace(current, **changes)


def _table(data: Mapping[str, Any], key: str, source: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise PolicyError(f"{source}: '{key}' must be a table ([{key}])")
    return value


def _check_keys(
    table: Mapping[str, Any], allowed: Mapping[str, Any] | tuple[str, ...], source: str, prefix: str
) -> None:
    for key in table:
        if key not in allowed:
            expected = ", ".join(sorted(allowed))
            raise PolicyError(f"{source}: unknown key '{prefix}{key}' (expected one of: {expected})")


def _check_type(value: Any, types: tuple[type, ...], source: str, where: str) -> None:
    # TOML `true` is a bool, which Python also counts as an int: it is not a number here.
    if isinstance(value, types) and not (isinstance(value, bool) and bool not in types):
        return
    wanted = {bool: "true/false", str: "a string", list: "a list of strings"}.get(types[0], "a number")
    raise PolicyError(f"{source}: '{where}' must be {wanted}, got {value!r}")


def _strings(values: list[Any], source: str, where: str) -> list[str]:
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise PolicyError(f"{source}: '{where}' must be a list of non-empty strings, got {value!r}")
    return list(values)
