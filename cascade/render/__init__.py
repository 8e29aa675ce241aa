"""Offline batch rendering: a prompt file in, one PNG per image and `manifest.jsonl` out, resumable.

prompt file -> lines (`inputs`) -> image jobs with derived seeds (`plan`) -> prompt filter, each line
as its first job is wanted (`screening`, verdicts kept across runs by `verdicts`) -> the batching
engine, here (`local`) or on Ray (`ray_runner`) -> atomic PNG writes (`writer`) and the append-only
manifest (`manifest`); `runner` drives one run, `interrupt` handles Ctrl-C, `cli` is `cascade render`.
docs/RENDER.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cascade.lazy import lazy_attributes
from cascade.render.inputs import BadLine, InputError, PromptLine, read_prompts
from cascade.render.manifest import MANIFEST_NAME, Manifest, read_records
from cascade.render.plan import ImageJob, LinePlan, RenderSettings, derive_seed, plan_lines

if TYPE_CHECKING:
    from cascade.render.local import Rendered, render_local
    from cascade.render.runner import ConflictError, Summary, render_plans

__all__ = [
    "MANIFEST_NAME",
    "BadLine",
    "ConflictError",
    "ImageJob",
    "InputError",
    "LinePlan",
    "Manifest",
    "PromptLine",
    "RenderSettings",
    "Rendered",
    "Summary",
    "derive_seed",
    "plan_lines",
    "read_prompts",
    "read_records",
    "render_local",
    "render_plans",
]
# The backends and the runner import the engine (torch): on first use only.
__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        "Rendered": "cascade.render.local",
        "render_local": "cascade.render.local",
        "ConflictError": "cascade.render.runner",
        "Summary": "cascade.render.runner",
        "render_plans": "cascade.render.runner",
    },
)
