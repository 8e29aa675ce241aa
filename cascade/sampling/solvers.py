"""The diffusers schedulers we step with, configured to take our thresholded x0 as their input.

Guidance and thresholding happen in our wrappers, so every solver is built with
`prediction_type="sample"` and its own thresholding and clipping switched off: the solver only steps.
"""

from __future__ import annotations

import copy
import functools
import importlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from diffusers.schedulers.scheduling_utils import SchedulerMixin

# Our solver names and the diffusers class each builds, by name: request validation and `--help` need
# the names without importing diffusers.
SOLVERS: dict[str, str] = {
    "ddpm": "DDPMScheduler",
    "ddim": "DDIMScheduler",
    "dpm++2m": "DPMSolverMultistepScheduler",
}
SOLVER_BY_CLASS = {cls: name for name, cls in SOLVERS.items()}
_SOLVER_OVERRIDES: dict[str, dict[str, Any]] = {
    "ddpm": {},
    "ddim": {},
    "dpm++2m": {"algorithm_type": "dpmsolver++", "solver_order": 2},
}


def solver_name_for(scheduler_class_name: str) -> str:
    """Our name for a saved diffusers scheduler class; unknown classes are refused."""
    try:
        return SOLVER_BY_CLASS[scheduler_class_name]
    except KeyError:
        raise ValueError(
            f"scheduler {scheduler_class_name!r} is not supported; supported: {sorted(SOLVER_BY_CLASS)}"
        ) from None


def first_step(steps: int, strength: float) -> int:
    """The index of the first of `steps` timesteps a request with this strength runs: diffusers'
    img2img rule (it runs int(steps * strength) of them), so our truncated starts match its pipelines."""
    return steps - min(int(steps * strength), steps)


def make_solver(name: str, trained_config: dict[str, Any], steps: int, first: int = 0) -> SchedulerMixin:
    """A fresh solver for one request: the stage's noise schedule, our x0 input, `steps` timesteps set,
    to be stepped from timestep index `first` on.

    A copy of one built per (solver, schedule, steps): building from a config costs about 1 ms (config
    validation), a copy a tenth of that, and every request of every stage needs one.
    """
    schedule = json.dumps(trained_config, sort_keys=True, default=str)
    solver = copy.deepcopy(_prepared_solver(name, schedule, steps))
    if first and hasattr(solver, "set_begin_index"):  # multistep solvers count their own steps
        solver.set_begin_index(first)
    return solver


@functools.lru_cache(maxsize=256)
def _prepared_solver(name: str, trained_config_json: str, steps: int) -> SchedulerMixin:
    config = {k: v for k, v in json.loads(trained_config_json).items() if not k.startswith("_")}
    config.update(_SOLVER_OVERRIDES[name], prediction_type="sample", thresholding=False, clip_sample=False)
    if config.get("variance_type") is None:
        config.pop("variance_type", None)  # DPM-Solver saves None; DDPM wants its own default
    solver = getattr(importlib.import_module("diffusers"), SOLVERS[name]).from_config(config)
    solver.set_timesteps(steps)
    if hasattr(solver, "set_begin_index"):
        solver.set_begin_index(0)
    return solver
