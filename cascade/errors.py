"""Typed errors: every bad input names the field and what would have been accepted."""

from __future__ import annotations

import safety.verdict


def shown(value: object, limit: int = 60) -> str:
    """A value as an error message may echo it: its repr, cut short (a bad field can be 20 KB long)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 20]}... ({len(text)} characters)"


class CascadeError(Exception):
    """Base class for every error the engine raises on purpose."""


class InvalidRequestError(CascadeError, ValueError):
    """A generation request field is out of range or of the wrong type."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class CheckpointError(CascadeError, OSError):
    """A model folder is missing, incomplete or unreadable."""

    def __init__(self, path: object, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = str(path)


class PromptRejected(CascadeError, safety.verdict.PromptRejected):
    """The prompt filter refused a prompt: `str()` is the user-facing message, `.verdict` the rest.

    Also a `safety.PromptRejected`, so code written against the safety package alone still catches it.
    """


class DeviceError(CascadeError, ValueError):
    """The device or dtype asked for does not exist on this machine or in this PyTorch build."""


class MissingExtraError(CascadeError, ImportError):
    """A feature needs an optional dependency group that is not installed."""

    def __init__(self, feature: str, extra: str) -> None:
        super().__init__(f"{feature} needs the [{extra}] extra: pip install 'imagen-cascade[{extra}]'")
        self.extra = extra


def require_extra(feature: str, extra: str, *modules: str) -> None:
    """Raise `MissingExtraError` unless every one of `modules` can be imported."""
    import importlib.util

    if any(importlib.util.find_spec(module) is None for module in modules):
        raise MissingExtraError(feature, extra)
