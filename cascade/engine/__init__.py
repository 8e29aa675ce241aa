"""The engine core: one step loop with step-level batching, its scheduling policy, request handles.

It imports only the core (requests, planning, stages, safeguards), never `cascade/__init__` or `server`:
the server and batch rendering sit above it, as an API layer sits above an engine core.
"""

from cascade.engine.batching import BatchingEngine, EngineUnavailableError, QueueFullError
from cascade.engine.fixed_rows import FixedRowsUNet, fix_forward_rows
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
from cascade.engine.loop import EngineConfig, EngineLoop, StepPreview, Work
from cascade.engine.metrics import EngineMetrics
from cascade.engine.scheduler import SchedulingPolicy, StageLoad

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
