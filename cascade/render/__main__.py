"""`python -m cascade.render PROMPTS --out DIR ...`: the same as `cascade render`."""

from __future__ import annotations

import argparse
import sys

from cascade.errors import CascadeError
from cascade.render.cli import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cascade render", description="Render a file of prompts to PNGs.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except CascadeError as error:
        print(f"cascade render: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
