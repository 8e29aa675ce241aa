"""`Retry-After` for a full queue comes from how fast requests have been finishing, not a guess."""

from __future__ import annotations

import pytest

from cascade import GenerationRequest
from cascade.engine import BatchingEngine, EngineConfig, QueueFullError
from cascade.engine.service_rate import ServiceRate


def test_the_rate_is_measured_while_busy_and_idle_time_does_not_count():
    now = [0.0]
    rate = ServiceRate(smoothing=0.5, clock=lambda: now[0])
    assert rate.seconds_for(3) is None
    rate.busy()
    for _ in range(3):
        now[0] += 4.0
        rate.finished()
    assert rate.seconds_for(2) == pytest.approx(8.0)
    now[0] += 1000.0  # idle
    rate.busy()
    now[0] += 2.0
    rate.finished()
    assert rate.seconds_for(1) == pytest.approx(3.0)  # halfway from 4 s to 2 s, the idle hour ignored


def test_a_full_queue_says_how_long_the_needed_slots_take_at_the_measured_rate(served_cascade):
    engine = BatchingEngine(served_cascade, EngineConfig(max_queue=2, max_batch_size=1))
    now = [0.0]
    engine.rate = ServiceRate(clock=lambda: now[0])
    engine.rate.busy()
    now[0] += 4.0
    engine.rate.finished()  # one request every 4 s
    engine.start()
    try:
        request = GenerationRequest(prompt="a red star", seed=0, size=16, steps=200)
        engine.submit_many([request, request], progress=False)
        with pytest.raises(QueueFullError) as full:
            engine.submit_many([request, request], progress=False)
        assert full.value.retry_after_s == pytest.approx(8.0)
    finally:
        engine.stop_accepting()
        for work in [*engine.loop.running[0], *engine.loop.waiting[0]]:
            work.handle.cancel()
        engine.stop()
