"""`python -m cascade.render PROMPTS --out DIR ...`: the same as `cascade render`."""

from __future__ import annotations

import sys

from cascade.cli import main as cascade_main


def main(argv: list[str] | None = None) -> int:
    return cascade_main(["render", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
