"""`python -m server --model PATH ...`: the same as `cascade serve`."""

from __future__ import annotations

import sys

from cascade.cli import main

sys.exit(main(["serve", *sys.argv[1:]]))
