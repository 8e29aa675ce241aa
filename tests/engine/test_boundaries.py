"""The layering the design fixes: the engine imports only the core, and `cascade` never imports `server`."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import cascade

PACKAGE = Path(cascade.__file__).parent
CORE = ("cascade.engine", "cascade.errors", "cascade.planning", "cascade.request", "cascade.safeguards")
CORE += ("cascade.stages", "cascade.text_encoder", "safety", "cascade.lazy")  # lazy: import machinery
CORE += ("cascade.images",)  # tensor <-> picture conversions, torch-free at import


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module)
    return names


def test_engine_imports_only_the_core():
    for path in (PACKAGE / "engine").glob("*.py"):
        ours = {
            name for name in imported_modules(path) if name.split(".")[0] in ("cascade", "server", "safety")
        }
        outside = {name for name in ours if not name.startswith(CORE)}
        assert not outside, f"{path.name} imports {sorted(outside)}"


def test_nothing_under_cascade_imports_server_at_import_time():
    modules = [
        f"cascade.{path.relative_to(PACKAGE).with_suffix('').as_posix().replace('/', '.')}"
        for path in PACKAGE.rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
    ]
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'server' or m.startswith('server.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
