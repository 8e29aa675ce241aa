"""/metrics answers an operator: how deep is the queue, how long did requests wait, what failed."""

from __future__ import annotations

import openai
import pytest

from server.metrics import RATE_WINDOW_S, PrometheusMetrics


def test_metrics_count_images_outcomes_refusals_and_latencies(serve):
    server = serve()
    client = server.client()
    client.images.generate(prompt="a red star", n=2, size="32x32", extra_body={"steps": 1})
    with pytest.raises(openai.BadRequestError):
        client.images.generate(prompt="a gory decapitation", size="16x16")
    with pytest.raises(openai.BadRequestError):
        client.images.generate(prompt="a red star", size="8x8")

    assert server.metric("cascade_images_total") == 2
    assert server.metric("cascade_requests_total", outcome="completed") == 2
    assert server.metric("cascade_safety_rejections_total", category="violence") == 1
    assert server.metric("cascade_http_errors_total", status="400", code="content_policy_violation") == 1
    assert server.metric("cascade_http_errors_total", status="400", code="invalid_value") == 1
    assert server.metric("cascade_queue_wait_seconds_count") == 2
    assert server.metric("cascade_stage_latency_seconds_count", stage="16px") == 2
    assert server.metric("cascade_stage_latency_seconds_count", stage="32px") == 2
    assert server.metric("cascade_stage_latency_seconds_count", stage="64px") is None  # 32 px stops early
    assert server.metric("cascade_queue_depth") == 0
    assert server.metric("cascade_running_batch_size", stage="64px") == 0
    assert server.metric("cascade_images_per_second") == 2 / RATE_WINDOW_S


def test_images_per_second_covers_the_last_minute_only():
    now = [1000.0]
    metrics = PrometheusMetrics(clock=lambda: now[0])
    metrics.count_images(3)
    now[0] += RATE_WINDOW_S / 2
    metrics.count_images(3)
    assert metrics.images_per_second() == 6 / RATE_WINDOW_S
    now[0] += RATE_WINDOW_S / 2 + 1
    assert metrics.images_per_second() == 3 / RATE_WINDOW_S
