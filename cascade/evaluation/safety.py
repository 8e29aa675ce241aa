"""`cascade eval safety`: the prompt filter's evaluation, which lives in `safety.eval`.

    cascade eval safety                        # = python -m safety.eval
    cascade eval safety --split calibration --errors
    cascade eval safety --calibrate            # thresholds from the calibration split
"""

from __future__ import annotations

from safety.eval import (
    DATA_PATH,
    SPLITS,
    LayerReport,
    add_arguments,
    calibrate,
    evaluate_layers,
    load_rows,
    print_calibration,
    print_eval,
    run,
)

__all__ = [
    "DATA_PATH",
    "SPLITS",
    "LayerReport",
    "add_arguments",
    "calibrate",
    "evaluate_layers",
    "load_rows",
    "print_calibration",
    "print_eval",
    "run",
]
