"""Package attributes imported on first use (PEP 562), so that importing a package stays cheap.

`import cascade` and `cascade --help` must not pay for torch and diffusers (seconds); the classes that
need them are still `cascade.Cascade` and `cascade.stages.Stage` to their users.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_attributes(
    package: str, homes: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """A module's `__getattr__` and `__dir__` that import `name` from module `homes[name]` when first used."""

    def __getattr__(name: str) -> object:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(homes[name]), name)
        globals_of_package = importlib.import_module(package).__dict__
        globals_of_package[name] = value  # later lookups are plain attribute reads
        return value

    def __dir__() -> list[str]:
        return sorted(set(importlib.import_module(package).__dict__) | set(homes))

    return __getattr__, __dir__
