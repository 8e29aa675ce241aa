"""Typed errors: every bad input names the field and what would have been accepted."""

from __future__ import annotations


class CascadeError(Exception):
    """Base class for every error the engine raises on purpose."""


class InvalidRequestError(CascadeError, ValueError):
    """A generation request field is out of range or of the wrong type."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class CheckpointError(CascadeError, OSError):
    """A model folder is missing, incomplete or unreadable."""

    def __init__(self, path: object, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = str(path)
