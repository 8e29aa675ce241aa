"""The engine core: one step loop with step-level batching, its scheduling policy, request handles.

It imports only the core (requests, planning, stages, safeguards), never `cascade/__init__` or `server`:
the server and batch rendering sit above it, as an API layer sits above an engine core.
"""

from typing import TYPE_CHECKING

from cascade.engine.config import EngineConfig
from cascade.engine.handle import (
    Completed,
    EngineRequestFailed,
    Event,
    Failed,
    Queued,
    RequestHandle,
    StagePreview,
    StageProgress,
)
from cascade.engine.metrics import EngineMetrics
from cascade.engine.scheduler import SchedulingPolicy, StageLoad
from cascade.lazy import lazy_attributes

if TYPE_CHECKING:
    from cascade.engine.batching import BatchingEngine, EngineUnavailableError, QueueFullError
    from cascade.engine.fixed_rows import FixedRowsUNet, fix_forward_rows
    from cascade.engine.loop import EngineLoop, StepPreview, Work

__all__ = [
    "BatchingEngine",
    "Completed",
    "EngineConfig",
    "EngineLoop",
    "EngineMetrics",
    "EngineRequestFailed",
    "EngineUnavailableError",
    "Event",
    "Failed",
    "FixedRowsUNet",
    "QueueFullError",
    "Queued",
    "RequestHandle",
    "SchedulingPolicy",
    "StageLoad",
    "StagePreview",
    "StageProgress",
    "StepPreview",
    "Work",
    "fix_forward_rows",
]
# The loop and what runs it import torch: on first use, so that the server's flags parse without it.
_TORCH_HOMES = {
    "BatchingEngine": "cascade.engine.batching",
    "EngineUnavailableError": "cascade.engine.batching",
    "QueueFullError": "cascade.engine.batching",
    "FixedRowsUNet": "cascade.engine.fixed_rows",
    "fix_forward_rows": "cascade.engine.fixed_rows",
    "EngineLoop": "cascade.engine.loop",
    "StepPreview": "cascade.engine.loop",
    "Work": "cascade.engine.loop",
}
__getattr__, __dir__ = lazy_attributes(__name__, _TORCH_HOMES)
