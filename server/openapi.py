"""`/openapi.json` that tells the truth: the errors we send (from `server.errors.CATALOGUE`), not the
422 FastAPI documents by default and never sends here."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from server.errors import CATALOGUE


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorBody(BaseModel):
    """OpenAI's error object."""

    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route that can send these statuses, each described by its codes."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        kinds = [kind for kind in CATALOGUE if kind.status == status]
        description = "; ".join(f"`{kind.code}`: {kind.when}" for kind in kinds)
        responses[status] = {"model": ErrorBody, "description": description}
    return responses


# What any route can answer before it runs: the gate, the body limits, the connection guard.
TRANSPORT = (401, 408, 413, 429, 503)
GENERATION = error_responses(400, *TRANSPORT, 500, 504)
MODEL_LOOKUP = error_responses(404, *TRANSPORT)


def install_openapi(app: FastAPI) -> None:
    """Build the schema once, without FastAPI's 422 validation responses (ours are 400s)."""

    def schema() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, routes=app.routes)
            for path in document.get("paths", {}).values():
                for operation in path.values():
                    operation.get("responses", {}).pop("422", None)
            schemas = document.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = schema  # type: ignore[method-assign]
