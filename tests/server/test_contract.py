"""The error contract as docs/SERVER.md and /openapi.json state it, and the small security rules."""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from server.auth import KeyStore
from server.config import RateLimit, ServerConfig
from server.errors import CATALOGUE, APIError
from server.http_server import RedactQueries

DOCS = Path(__file__).resolve().parents[2] / "docs" / "SERVER.md"
JSON = {"content-type": "application/json"}
KEYED = ServerConfig(api_keys=KeyStore.from_entries(["k1"]))


def post(server, body: bytes, **headers: str) -> httpx.Response:
    url = f"{server.url}/v1/images/generations"
    return httpx.post(url, content=body, headers={**JSON, **headers}, timeout=120)


def error(answer: httpx.Response) -> dict:
    return answer.json()["error"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"prompt": "a \xff star"}',  # not UTF-8
        b"[" * 5000 + b"]" * 5000,  # nested past the parser's recursion limit
        b'{"prompt": "a", "seed": ' + b"9" * 5000 + b"}",  # an integer past Python's 4300 digits
        b"{nope",
    ],
)
def test_every_body_the_parser_refuses_is_400_invalid_json(serve, body):
    answer = post(serve(), body)
    assert answer.status_code == 400 and error(answer)["code"] == "invalid_json"


@pytest.mark.parametrize(("field", "text"), [("prompt", "a \\ud800 star"), ("negative_prompt", "\\udfff")])
def test_a_lone_surrogate_is_a_400_naming_its_field_and_its_neighbours_still_succeed(serve, field, text):
    server = serve()
    good = b'{"prompt": "a red star", "size": "16x16", "steps": 2}'
    poison = f'{{"prompt": "a red star", "size": "16x16", "steps": 2, "{field}": "{text}"}}'.encode()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda body: post(server, body), [good, poison] * 4))
    assert [a.status_code for a in answers] == [200, 400] * 4
    assert all(error(a)["param"] == field and error(a)["code"] == "invalid_value" for a in answers[1::2])


def test_a_prompt_of_only_invisible_characters_is_refused(serve):
    answer = post(serve(), b'{"prompt": "\\u0000\\u200b\\u200b"}')
    assert answer.status_code == 400 and error(answer)["param"] == "prompt"


def test_a_wrong_method_is_405_method_not_allowed(serve):
    answer = httpx.get(f"{serve().url}/v1/images/generations")
    assert answer.status_code == 405 and error(answer)["code"] == "method_not_allowed"


def test_the_key_is_checked_before_the_body_and_a_401_says_how_to_authenticate(serve):
    answer = post(serve(KEYED), b"{nope")
    assert answer.status_code == 401 and error(answer)["code"] == "invalid_api_key"
    assert answer.headers["www-authenticate"] == "Bearer"


def test_metrics_and_schema_are_open_unless_the_server_says_they_need_a_key(serve):
    open_server, closed = serve(KEYED), serve(ServerConfig(api_keys=KEYED.api_keys, metrics_need_key=True))
    assert httpx.get(f"{open_server.url}/metrics").status_code == 200
    for path in ("/metrics", "/openapi.json"):
        assert httpx.get(f"{closed.url}{path}").status_code == 401
        assert httpx.get(f"{closed.url}{path}", headers={"authorization": "Bearer k1"}).status_code == 200


def test_a_bad_value_is_not_echoed_back_at_length(serve):
    answer = post(serve(), b'{"prompt": "a", "size": "' + b"9" * 20_000 + b'"}')
    assert answer.status_code == 400 and len(error(answer)["message"]) < 300


def test_a_forwarded_for_header_does_not_make_a_local_caller_someone_else(serve):
    server = serve(ServerConfig(rate_limit=RateLimit(per_minute=1, burst=1)))
    body = b'{"prompt": "a red star", "size": "16x16", "steps": 1}'
    assert post(server, body, **{"x-forwarded-for": "10.0.0.1"}).status_code == 200
    assert post(server, body, **{"x-forwarded-for": "10.0.0.2"}).status_code == 429


def test_responses_do_not_name_the_server_software(serve):
    assert "server" not in httpx.get(f"{serve().url}/healthz").headers


def test_query_strings_are_redacted_in_the_access_log():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/metrics?api_key=sk-secret", "1.1", 401),
        None,
    )
    RedactQueries().filter(record)
    assert "sk-secret" not in record.getMessage() and "/metrics?<redacted>" in record.getMessage()


def test_openapi_documents_the_errors_we_send_and_not_fastapis_422(serve):
    schema = httpx.get(f"{serve().url}/openapi.json").json()
    assert '"422"' not in str(schema).replace("'", '"')
    generation = schema["paths"]["/v1/images/generations"]["post"]["responses"]
    assert {"400", "401", "408", "413", "429", "500", "503", "504"} <= set(generation)
    assert "queue_full" in generation["429"]["description"]
    body = schema["components"]["schemas"]["ImagesBody"]["properties"]["prompt"]
    assert body["minLength"] == 1
    assert "text/plain" in schema["paths"]["/metrics"]["get"]["responses"]["200"]["content"]


def test_every_catalogued_error_is_in_the_docs_table_and_nothing_else_can_be_sent():
    rows = set(re.findall(r"^\| (\d{3}) \| `(\w+)` \| `(\w+)` \|", DOCS.read_text(), re.MULTILINE))
    assert rows == {(str(k.status), k.type, k.code) for k in CATALOGUE}
    with pytest.raises(ValueError, match="not in the error catalogue"):
        APIError(400, "made up", code="made_up")
