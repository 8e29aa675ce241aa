"""Fault isolation for batched work: when one call over many requests fails, find who made it fail.

A batched encoder call or U-Net forward serves requests from different callers; one bad member must
fail alone, never its batch. `isolate` retries the members of a failed call in halves (a culprit is
found in about log2(n) extra calls) until the ones that fail alone are known.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def isolate(
    items: Sequence[T],
    attempt: Callable[[list[T]], None],
    fail: Callable[[T, Exception], None],
    *,
    unfinished: Callable[[list[T]], list[T]] = list,
    on_retry: Callable[[list[T], Exception], None] = lambda items, error: None,
) -> None:
    """Run `attempt(items)`; if it raises, retry the halves of what it left `unfinished`, down to single
    items. An item that fails alone goes to `fail(item, error)`; `on_retry` sees each failed group first
    (to log it, or to shrink a batch limit after running out of memory)."""
    group = list(items)
    if not group:
        return
    try:
        attempt(group)
        return
    except Exception as error:
        if len(group) == 1:
            fail(group[0], error)
            return
        on_retry(group, error)
    rest = unfinished(group)
    half = (len(rest) + 1) // 2
    for part in (rest[:half], rest[half:]):
        isolate(part, attempt, fail, unfinished=unfinished, on_retry=on_retry)
