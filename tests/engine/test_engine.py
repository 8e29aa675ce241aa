"""The batching engine with a real (tiny) cascade: determinism, joining mid-flight, limits, failures."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest
import torch

from cascade import GenerationRequest, InvalidRequestError
from cascade.engine import (
    BatchingEngine,
    Completed,
    EngineConfig,
    EngineRequestFailed,
    EngineUnavailableError,
    Failed,
    QueueFullError,
    StagePreview,
)
from safety import PromptRejected, SafetyVerdict

WAIT = 120


@pytest.fixture()
def cascade(served_cascade):
    """The served cascade: fixed 2-row forwards, so batch-mates cannot move a single bit."""
    return served_cascade


@pytest.fixture()
def engine(cascade):
    engine = BatchingEngine(cascade, EngineConfig(max_queue=6, max_batch_size=3))
    engine.start()
    yield engine
    engine.stop()


def request(prompt="a red star", seed=1, size=64, steps=3, **extra):
    return GenerationRequest(prompt=prompt, seed=seed, size=size, steps=steps, **extra)


def pixels(image) -> np.ndarray:
    return np.asarray(image).astype(int)


def test_engine_images_equal_direct_generation_whatever_is_batched_alongside(cascade, engine):
    mixed = [
        request(seed=1),
        request("two yellow triangles", seed=2, steps=(2, 5, 1), guidance=2.0),
        request("a blue ring", seed=3, size=16, solver="ddim"),
        request("a green heart", seed=4, size=32),
    ]
    handles = [engine.submit(r) for r in mixed]
    results = [h.wait(WAIT) for h in handles]
    for handle, result in zip(handles, results, strict=True):
        direct = cascade.run([handle.request], progress=False)[0]
        assert np.array_equal(pixels(result.image), pixels(direct.image))
        assert result.image.size == (handle.request.size,) * 2


def test_a_given_verdict_is_not_screened_again_and_comes_back_with_the_result(cascade, engine, monkeypatch):
    allowed = SafetyVerdict(allowed=True, layer="test")

    def screen(prompt):
        raise AssertionError("screened twice")

    monkeypatch.setattr(cascade.safeguards, "screen", screen)
    result = engine.submit(request(size=16, steps=2), verdict=allowed).wait(WAIT)
    assert result.verdict is allowed


def test_a_refusing_verdict_is_refused_at_submit_and_nothing_is_queued(engine):
    refused = SafetyVerdict(allowed=False, category="violence", layer="test")
    with pytest.raises(PromptRejected):
        engine.submit(request(size=16, steps=2), verdict=refused)
    assert engine.queue_depth == 0


def test_results_carry_the_verdict_their_prompt_was_admitted_on(cascade):
    (result,) = cascade.run([request(size=16, steps=2)], progress=False)
    assert result.verdict.allowed and result.verdict == cascade.safeguards.check(result.request.prompt)


def test_short_request_joins_and_finishes_before_a_long_one_already_running(engine):
    long = engine.submit(request(steps=(1000, 1, 1), seed=5))
    short = engine.submit(request(size=16, steps=2, seed=6))
    short.wait(WAIT)
    assert not long._finished.is_set()  # it was still running when the later request left
    long.cancel()


def test_cancelled_request_fails_as_cancelled_and_frees_its_slot(engine):
    handle = engine.submit(request(steps=500, seed=7))
    handle.cancel()
    with pytest.raises(EngineRequestFailed) as failure:
        handle.wait(WAIT)
    assert failure.value.code == "cancelled"
    engine.submit(request(size=16, steps=1)).wait(WAIT)
    assert engine.queue_depth == 0 and all(n == 0 for n in engine.running_batch_sizes().values())


def test_full_queue_refuses_new_requests_and_keeps_accepted_ones(engine):
    accepted = [engine.submit(request(size=16, steps=20, seed=s)) for s in range(6)]
    with pytest.raises(QueueFullError) as refusal:
        engine.submit(request(size=16, steps=1))
    assert refusal.value.retry_after_s >= 1
    assert all(h.wait(WAIT).image.size == (16, 16) for h in accepted)


def test_invalid_size_is_refused_before_acceptance(engine):
    with pytest.raises(InvalidRequestError, match="size"):
        engine.submit(request(size=128))
    assert engine.queue_depth == 0


def test_request_beyond_the_memory_budget_is_refused_with_a_clear_error(cascade):
    engine = BatchingEngine(cascade, EngineConfig(memory_budget=2 * 32 * 32))
    engine.start()
    try:
        with pytest.raises(InvalidRequestError, match="memory budget"):
            engine.submit(request(size=64))
        assert engine.submit(request(size=32, steps=1)).wait(WAIT).image.size == (32, 32)
    finally:
        engine.stop()


def test_out_of_memory_batch_is_split_and_loses_no_request(cascade, out_of_memory_above):
    requests = [request(size=16, seed=s, steps=3) for s in range(4)]
    expected = [r.image for r in cascade.run(requests, progress=False)]
    out_of_memory_above(cascade.stages[0], 1)
    engine = BatchingEngine(cascade, EngineConfig(max_batch_size=4))
    engine.start()
    try:
        results = [h.wait(WAIT) for h in [engine.submit(r) for r in requests]]
    finally:
        engine.stop()
    assert engine.loop.policy.max_batch_size[0] == 1
    for got, want in zip(results, expected, strict=True):
        assert np.array_equal(pixels(got.image), pixels(want))


def test_request_too_large_alone_fails_alone(cascade, monkeypatch):
    def never_fits(jobs):
        raise torch.OutOfMemoryError("simulated")

    monkeypatch.setattr(cascade.stages[1], "step", never_fits)
    engine = BatchingEngine(cascade)
    engine.start()
    try:
        with pytest.raises(EngineRequestFailed) as failure:
            engine.submit(request(size=32, steps=1)).wait(WAIT)
        assert failure.value.code == "too_large" and "32px" in str(failure.value)
        assert engine.submit(request(size=16, steps=1)).wait(WAIT).image.size == (16, 16)
    finally:
        engine.stop()


def test_timed_out_request_fails_as_timeout(cascade):
    engine = BatchingEngine(cascade, EngineConfig(request_timeout_s=0.0))
    engine.start()
    try:
        with pytest.raises(EngineRequestFailed) as failure:
            engine.submit(request(steps=50)).wait(WAIT)
        assert failure.value.code == "timeout"
    finally:
        engine.stop()


def test_events_stream_previews_per_stage_then_the_result(cascade):
    async def scenario():
        engine = BatchingEngine(cascade)
        engine.start()
        handle = engine.submit(request(steps=2))
        events = [event async for event in handle.events()]
        await engine.drain()
        return events

    events = asyncio.run(scenario())
    previews = [e.resolution for e in events if isinstance(e, StagePreview)]
    assert previews == [16, 32, 64]
    assert isinstance(events[-1], Completed) and not any(isinstance(e, Failed) for e in events)


def test_drain_finishes_accepted_requests_and_refuses_new_ones(cascade):
    async def scenario():
        engine = BatchingEngine(cascade)
        engine.start()
        accepted = [engine.submit(request(seed=s, steps=4)) for s in range(3)]
        drained = asyncio.create_task(engine.drain())
        await asyncio.sleep(0)
        with pytest.raises(EngineUnavailableError, match="draining"):
            engine.submit(request())
        results = [await h.result() for h in accepted]
        await drained
        return results, engine

    results, engine = asyncio.run(scenario())
    assert [r.image.size for r in results] == [(64, 64)] * 3
    assert not engine.ready and engine.queue_depth == 0


def test_screening_beside_the_engine_never_changes_the_thread_count_the_stage_runs_with(cascade, monkeypatch):
    from safety.semantic import screen

    threads = torch.get_num_threads()
    stage = cascade.stages[0]
    real_step, seen = stage.step, set()

    def recording_step(jobs):
        seen.add(torch.get_num_threads())
        return real_step(jobs)

    monkeypatch.setattr(stage, "step", recording_step)
    screen(["a warm-up prompt"], {})  # the encoder loaded before the engine starts
    screened, done = [], threading.Event()

    def screening_elsewhere():  # as the server does: the filter screens on another thread
        while True:  # at least once, and until the request is done
            screened.append(screen(["a red fox in the snow", "голая девушка на пляже"], {}))
            if done.is_set():
                return

    screener = threading.Thread(target=screening_elsewhere)
    screener.start()
    engine = BatchingEngine(cascade)
    engine.start()
    try:
        engine.submit(request(size=16, steps=2)).wait(WAIT)
    finally:
        done.set()
        screener.join()
        engine.stop()
    assert screened and seen == {threads} and torch.get_num_threads() == threads
