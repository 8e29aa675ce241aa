"""`python -m server --model PATH ...`: the same as `cascade serve`."""

from __future__ import annotations

import argparse
import sys

from server.cli import add_arguments, run

parser = argparse.ArgumentParser(prog="python -m server", description=__doc__)
add_arguments(parser)
sys.exit(run(parser.parse_args()))
