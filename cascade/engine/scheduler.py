"""Which stage steps next and how many queued requests join its running batch: a policy with no model in it.

Every stage keeps a FIFO of waiting requests and a running batch. At each step boundary the engine asks
`choose_stage` which stage to advance (round robin over stages with work, so stage I's new requests and
stage II/III's older ones progress in turn: stage pipelining on one device) and `admissions` how many
requests from the head of that stage's FIFO may join. Admission is strictly from the head: a large
request at the head is never overtaken by smaller ones behind it, so nothing starves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class StageLoad:
    """What the policy may know of one stage at a step boundary."""

    running: int
    waiting_costs: tuple[int, ...]  # the memory cost of each waiting request, FIFO order

    @property
    def has_work(self) -> bool:
        return self.running > 0 or bool(self.waiting_costs)


class SchedulingPolicy:
    """Round-robin stage choice; FIFO admission bounded by a batch size per stage and a memory budget.

    Costs are in the engine's unit (pixels of the rows a request adds to a forward); `memory_budget` bounds
    their sum across all running batches, since the stages share one device.
    """

    def __init__(self, max_batch_size: Sequence[int], memory_budget: int | None = None) -> None:
        if any(size < 1 for size in max_batch_size):
            raise ValueError(f"max_batch_size must be >= 1 per stage, got {list(max_batch_size)}")
        if memory_budget is not None and memory_budget < 1:
            raise ValueError(f"memory_budget must be positive, got {memory_budget}")
        self.max_batch_size = list(max_batch_size)
        self.memory_budget = memory_budget
        self._last_stage = -1

    def choose_stage(self, loads: Sequence[StageLoad]) -> int | None:
        """The next stage after the last one chosen that has work, or None when all are idle."""
        count = len(loads)
        for offset in range(1, count + 1):
            index = (self._last_stage + offset) % count
            if loads[index].has_work:
                self._last_stage = index
                return index
        return None

    def admissions(self, stage: int, load: StageLoad, memory_in_use: int) -> int:
        """How many requests from the head of `stage`'s FIFO join its running batch now."""
        admitted = 0
        free_slots = self.max_batch_size[stage] - load.running
        for cost in load.waiting_costs[: max(free_slots, 0)]:
            if self.memory_budget is not None and memory_in_use + cost > self.memory_budget:
                break
            memory_in_use += cost
            admitted += 1
        return admitted

    def fits_alone(self, cost: int) -> bool:
        """A request whose cost exceeds the whole budget can never run."""
        return self.memory_budget is None or cost <= self.memory_budget

    def shrink_batch(self, stage: int, size_that_failed: int) -> None:
        """After an out-of-memory error, cap the stage below the batch size that failed."""
        self.max_batch_size[stage] = max(1, min(self.max_batch_size[stage], size_that_failed - 1))
