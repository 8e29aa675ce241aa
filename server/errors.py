"""Every failure as OpenAI's error object, `{"error": {"message", "type", "param", "code"}}`.

The status codes are the ones the `openai` SDK maps to its exception classes (400 BadRequestError,
401 AuthenticationError, 429 RateLimitError, 5xx InternalServerError, others APIStatusError). Messages
are written for the client; tracebacks go to the server log only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

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
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

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
            type="rate_limit_error",
            code="queue_full",
            headers={"Retry-After": retry_after_header(error.retry_after_s)},
        )
    if isinstance(error, EngineUnavailableError):
        return APIError(503, f"the service is unavailable: {error}", type=SERVER, code="unavailable")
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
    return APIError(500, str(error), type=SERVER, code=error.code, headers=no_retry)


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
        code = "not_found" if error.status_code == 404 else None
        return answer(APIError(error.status_code, str(error.detail), code=code, headers=error.headers))

    expected = (APIError, InvalidRequestError, PromptRejected, QueueFullError, EngineUnavailableError)
    for kind in (*expected, EngineRequestFailed):
        app.add_exception_handler(kind, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_middleware(CatchAll, observe=observe)
