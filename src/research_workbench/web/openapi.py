"""What every app's OpenAPI document shares: where it is, and the shape of every error.

Swagger UI and ReDoc are off: both load their scripts and styles from a CDN, which the CSP forbids. An app shows
its API its own way (the Data Browser's ``/api`` page lists the document's endpoints).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

OPENAPI_URL = "/api/openapi.json"


def openapi_settings(**overrides: Any) -> dict[str, Any]:
    """FastAPI keyword arguments: the document at ``OPENAPI_URL``, no Swagger UI, no ReDoc."""
    return {"openapi_url": OPENAPI_URL, "docs_url": None, "redoc_url": None, **overrides}


class Problem(BaseModel):
    where: str
    message: str


class ErrorResponse(BaseModel):
    error: str
    problems: list[Problem] = []


# ``responses=`` of a route that can refuse its input or find nothing: each documented with ErrorResponse.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse}, 404: {"model": ErrorResponse}, 422: {"model": ErrorResponse},
}
