"""schemathesis against a live server: generated requests get only answers /openapi.json documents
(status, content type, body schema) and never a 5xx. Bounded: a few dozen cases per operation."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from server.config import ServerConfig

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

CHEAP = ServerConfig(max_images=2, max_steps=2, max_prompt_chars=200)
CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance)


def test_generated_requests_get_only_documented_answers(serve):
    server = serve(CHEAP)
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def conforms(case) -> None:
            case.call_and_validate(checks=CHECKS, timeout=120)

        conforms()
