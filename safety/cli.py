"""`cascade watermark verify IMAGE...`: whether each image carries the service's invisible watermark.

The main CLI mounts this module under its `watermark` command:

    from safety.cli import add_arguments, run
    add_arguments(commands.add_parser("watermark", help="check images for the invisible watermark"))

Prints one line per image and exits 1 when any image lacks the mark (or cannot be read), so that a
script can gate on it. See `safety.watermark` for what the mark survives.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `verify` subcommand to the parser of the `watermark` command."""
    from safety.watermark import DEFAULT_PAYLOAD

    actions = parser.add_subparsers(dest="watermark_action", required=True)
    verify = actions.add_parser("verify", help="check that images carry the invisible watermark")
    verify.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, ...)")
    verify.add_argument(
        "--payload", default=DEFAULT_PAYLOAD, help=f"the text the mark carries (default {DEFAULT_PAYLOAD!r})"
    )


def run(args: argparse.Namespace) -> int:
    """0 when every image carries the mark, 1 otherwise."""
    from safety.watermark import verify_file

    missing = 0
    for path in args.images:
        found, line = verify_file(path, args.payload)
        print(("ok       " if found else "MISSING  ") + line)
        missing += not found
    if missing:
        print(f"{missing} of {len(args.images)} images lack the watermark", file=sys.stderr)
    return 1 if missing else 0
