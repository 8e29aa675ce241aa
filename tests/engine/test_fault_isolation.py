"""One bad request fails alone: a batched encoder call or step that fails is retried apart, so its
batch-mates finish with the pixels they would have had without it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cascade import GenerationRequest
from cascade.engine import BatchingEngine, EngineConfig, EngineRequestFailed
from cascade.engine.isolation import isolate
from tests.server.live_server import wait_until

WAIT = 120
POISON = "poison pill"


def request(prompt: str, seed: int, steps: int = 3) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, seed=seed, size=16, steps=steps)


def pixels(image) -> np.ndarray:
    return np.asarray(image).astype(int)


def is_poison(job) -> bool:
    return job.tag.handle.request.prompt == POISON


def run_poisoned_batch(cascade) -> tuple[list, pytest.ExceptionInfo, list]:
    """Three good requests running, then one poisoned request joining with two more good ones."""
    good = [request(f"a red star {i}", seed=i, steps=40 if i < 3 else 4) for i in range(5)]
    expected = [r.image for r in cascade.run(good, progress=False)]
    engine = BatchingEngine(cascade, EngineConfig(max_batch_size=8))
    engine.start()
    try:
        running = engine.submit_many(good[:3], progress=False)
        wait_until(lambda: len(engine.loop.running[0]) == 3, what="the first three to run")
        joining = engine.submit_many([good[3], request(POISON, seed=9), good[4]], progress=False)
        handles = [*running, joining[0], joining[2]]
        with pytest.raises(EngineRequestFailed) as failure:
            joining[1].wait(WAIT)
        results = [handle.wait(WAIT) for handle in handles]
    finally:
        engine.stop()
    return results, failure, expected


def assert_good_ones_unharmed(results, expected) -> None:
    assert len(results) == len(expected)
    for got, want in zip(results, expected, strict=True):
        assert np.array_equal(pixels(got.image), pixels(want))


def test_text_that_fails_to_encode_fails_its_request_alone(served_cascade, monkeypatch):
    real_embed = served_cascade.embed

    def embed(stage, requests, settings):
        if any(r.prompt == POISON for r in requests):
            raise UnicodeEncodeError("utf-8", POISON, 0, 1, "surrogates not allowed")
        return real_embed(stage, requests, settings)

    monkeypatch.setattr(served_cascade, "embed", embed)
    results, failure, expected = run_poisoned_batch(served_cascade)
    assert failure.value.code == "internal" and "text encoding" in str(failure.value)
    assert_good_ones_unharmed(results, expected)


def test_a_step_that_fails_for_one_request_fails_it_alone(served_cascade, monkeypatch):
    stage = served_cascade.stages[0]
    real_step = stage.step

    def step(jobs):
        if any(is_poison(job) for job in jobs):
            raise RuntimeError("simulated kernel failure")
        return real_step(jobs)

    monkeypatch.setattr(stage, "step", step)
    results, failure, expected = run_poisoned_batch(served_cascade)
    assert failure.value.code == "internal"
    assert_good_ones_unharmed(results, expected)


def test_a_request_whose_pixels_go_non_finite_fails_alone(served_cascade, monkeypatch):
    stage = served_cascade.stages[0]
    real_finish = stage.finish

    def finish(job):
        image = real_finish(job)
        return torch.full_like(image, float("nan")) if is_poison(job) else image

    monkeypatch.setattr(stage, "finish", finish)
    results, failure, expected = run_poisoned_batch(served_cascade)
    assert failure.value.code == "non_finite"
    assert_good_ones_unharmed(results, expected)


def test_isolate_finds_the_culprit_and_runs_the_others_in_groups():
    calls: list[list[int]] = []
    done: list[int] = []
    failed: list[int] = []

    def attempt(group: list[int]) -> None:
        calls.append(group)
        if 5 in group:
            raise ValueError("five")
        done.extend(group)

    isolate(range(8), attempt, lambda item, error: failed.append(item))
    assert failed == [5] and sorted(done) == [0, 1, 2, 3, 4, 6, 7]
    assert len(calls) == 7  # 8, 4+4, 2+2, 1+1: a culprit costs about 2 log2(n) calls, not n


def test_isolate_does_not_rerun_what_a_failed_call_already_did():
    done: list[int] = []

    def attempt(group: list[int]) -> None:
        for item in group:
            if item == 2 and len(group) > 1:
                raise ValueError("fails only in company")
            done.append(item)

    isolate(
        [0, 1, 2, 3], attempt, lambda item, error: None, unfinished=lambda g: [i for i in g if i not in done]
    )
    assert done == [0, 1, 2, 3]
