"""Every failure as OpenAI's error object, `{"error": {"message", "type", "param", "code"}}`.

The status codes are the ones the `openai` SDK maps to its exception classes (400 BadRequestError,
401 AuthenticationError, 429 RateLimitError, 5xx InternalServerError, others APIStatusError). Messages
are written for the client; tracebacks go to the server log only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cascade.engine import EngineRequestFailed, EngineUnavailableError, QueueFullError
from cascade.errors import InvalidRequestError
from safety import PromptRejected
from server.auth import retry_after_header

logger = logging.getLogger(__name__)

INVALID = "invalid_request_error"
SERVER = "server_error"
RATE = "rate_limit_error"


@dataclass(frozen=True)
class ErrorKind:
    """One answer in the error contract: status, OpenAI's `type` and `code`, and when it is sent."""

    status: int
    type: str
    code: str
    when: str


# Every error the server sends; docs/SERVER.md lists the same rows and /openapi.json is built from
# them. `APIError` refuses a (status, code) not listed here, so the contract cannot drift silently.
CATALOGUE = (
    ErrorKind(
        400,
        INVALID,
        "invalid_json",
        "the body is not JSON: not UTF-8, malformed, too deep, a number too long",
    ),
    ErrorKind(400, INVALID, "unknown_parameter", "a field this endpoint does not take (`param` names it)"),
    ErrorKind(400, INVALID, "invalid_value", "a field of the wrong type or out of range (`param` names it)"),
    ErrorKind(400, INVALID, "content_policy_violation", "the prompt filter refused the prompt"),
    ErrorKind(400, INVALID, "image_too_large", "the size does not fit in device memory even alone"),
    ErrorKind(401, INVALID, "invalid_api_key", "no key, or a key not accepted (with `WWW-Authenticate`)"),
    ErrorKind(404, INVALID, "not_found", "no such path, or an image URL that expired"),
    ErrorKind(404, INVALID, "model_not_found", "`GET /v1/models/{id}` for a model not served here"),
    ErrorKind(405, INVALID, "method_not_allowed", "the path exists, not for this method"),
    ErrorKind(408, INVALID, "request_timeout", "the request head or body did not arrive in time"),
    ErrorKind(413, INVALID, "request_too_large", "the body is over `--max-body-bytes`"),
    ErrorKind(429, RATE, "rate_limit_exceeded", "this caller's rate limit (with `Retry-After`)"),
    ErrorKind(429, RATE, "queue_full", "the engine holds `--max-queue` images (with `Retry-After`)"),
    ErrorKind(500, SERVER, "internal", "the model failed on this request alone"),
    ErrorKind(500, SERVER, "non_finite", "the model produced non-finite pixels for this request"),
    ErrorKind(500, SERVER, "internal_error", "a bug in the server; the log has the traceback"),
    ErrorKind(503, SERVER, "loading", "the model is still loading (with `Retry-After`)"),
    ErrorKind(503, SERVER, "draining", "shutting down: accepted work finishes, new work is refused"),
    ErrorKind(503, SERVER, "failed", "the model failed to load"),
    ErrorKind(503, SERVER, "unavailable", "the engine is not running"),
    ErrorKind(503, SERVER, "too_many_connections", "over `--max-connections` open connections"),
    ErrorKind(504, SERVER, "timeout", "the image did not finish within `--request-timeout`"),
)
KNOWN = {(kind.status, kind.code) for kind in CATALOGUE}
RETRY_SOON = {"Retry-After": "5"}  # on a 503: another replica may take it, or this one shortly


class APIError(Exception):
    """An answer that is an error: status, OpenAI's four fields, and headers such as Retry-After."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = INVALID,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        if (status, code) not in KNOWN:
            raise ValueError(f"({status}, {code!r}) is not in the error catalogue (server/errors.py)")
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, dict[str, str | None]]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def translate(error: Exception) -> APIError:
    """The client's view of an error raised by validation, the safety filter or the engine."""
    if isinstance(error, APIError):
        return error
    if isinstance(error, InvalidRequestError):
        return APIError(400, str(error), param=error.field.split(".")[0], code="invalid_value")
    if isinstance(error, PromptRejected):
        return APIError(400, str(error), param="prompt", code="content_policy_violation")
    if isinstance(error, QueueFullError):
        return APIError(
            429,
            str(error),
            type=RATE,
            code="queue_full",
            headers={"Retry-After": retry_after_header(error.retry_after_s)},
        )
    if isinstance(error, EngineUnavailableError):
        return APIError(
            503,
            f"the service is unavailable: {error}",
            type=SERVER,
            code="unavailable",
            headers=RETRY_SOON,
        )
    if isinstance(error, EngineRequestFailed):
        return _engine_failure(error)
    logger.error("unhandled error", exc_info=error)
    return APIError(500, "the server failed to handle this request", type=SERVER, code="internal_error")


def _engine_failure(error: EngineRequestFailed) -> APIError:
    """A request the engine accepted and could not finish; retrying the same request would not help."""
    no_retry = {"x-should-retry": "false"}
    if error.code == "too_large":
        return APIError(400, f"{error}; ask for a smaller size", param="size", code="image_too_large")
    if error.code == "timeout":
        return APIError(504, str(error), type=SERVER, code="timeout", headers=no_retry)
    code = error.code if (500, error.code) in KNOWN else "internal"
    return APIError(500, str(error), type=SERVER, code=code, headers=no_retry)


def validation_error(error: RequestValidationError) -> APIError:
    """FastAPI's body validation, reported as OpenAI does: 400 naming the first offending field."""
    first = error.errors()[0]
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    kind = first.get("type", "")
    if kind == "json_invalid":
        return APIError(400, "the request body is not valid JSON", code="invalid_json")
    if kind == "extra_forbidden" and location:
        message = f"unrecognized request argument: {location[0]}"
        return APIError(400, message, param=location[0], code="unknown_parameter")
    param = location[0] if location else None
    where = f"{'.'.join(location)}: " if location else ""
    return APIError(400, f"{where}{first.get('msg', 'invalid value')}", param=param, code="invalid_value")


HTTP_CODES = {
    400: (
        "invalid_json",
        "the request body is not valid JSON (UTF-8, not nested too deep, numbers < 4300 digits)",
    ),
    404: ("not_found", None),
    405: ("method_not_allowed", None),
}


def http_error(error: HTTPException) -> APIError:
    """Starlette's and FastAPI's own refusals: 404, 405, and 400 for a body its parser gave up on."""
    code, message = HTTP_CODES.get(error.status_code, ("internal_error", None))
    status = error.status_code if error.status_code in HTTP_CODES else 500
    return APIError(status, message or str(error.detail), code=code, headers=error.headers)


Observer = Callable[[APIError], None]


class CatchAll:
    """ASGI middleware: any exception that reaches it is answered in OpenAI's shape and observed.

    It sits outside the other middleware, so their `APIError`s (413 from the body limit) land here; an
    unexpected exception becomes a 500 without a traceback, logged once. (Starlette's own handler for
    `Exception` re-raises after answering, which logs every error twice.)
    """

    def __init__(self, app: ASGIApp, observe: Observer) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as error:
            if started:  # too late for an error response; the connection is closed
                raise
            answer = translate(error)
            self.observe(answer)
            await answer.response()(scope, receive, send)


def install_handlers(app: FastAPI, observe: Observer) -> None:
    """Answer every exception in OpenAI's shape, Starlette's 404/405 included; `observe` sees each one."""

    def answer(error: APIError) -> JSONResponse:
        observe(error)
        return error.response()

    async def on_api_error(request: Request, error: Exception) -> JSONResponse:
        return answer(translate(error))

    async def on_validation(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return answer(validation_error(error))

    async def on_http(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        return answer(http_error(error))

    expected = (APIError, InvalidRequestError, PromptRejected, QueueFullError, EngineUnavailableError)
    for kind in (*expected, EngineRequestFailed):
        app.add_exception_handler(kind, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_middleware(CatchAll, observe=observe)
