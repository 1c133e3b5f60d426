"""Error responses shared by the routes' OpenAPI declarations."""

from __future__ import annotations

from typing import Any

from crm.api.errors import ErrorResponse, error_example


def error(
    description: str, code: str, message: str, details: list[dict] | None = None, headers: dict | None = None
) -> dict:
    response = {
        "model": ErrorResponse,
        "description": description,
        "content": {"application/json": {"example": error_example(code, message, details)}},
    }
    if headers:
        response["headers"] = headers
    return response


UNAUTHORIZED = error(
    "missing, unknown or revoked API key",
    "unauthorized",
    "send an API key as 'Authorization: Bearer <key>'",
    headers={"WWW-Authenticate": {"schema": {"type": "string"}}},
)
RATE_LIMITED = error(
    "too many requests for this key; see Retry-After",
    "rate_limited",
    "too many requests for this API key; retry in 1 s",
    headers={"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}},
)
UNAVAILABLE = error("the database or the queue cannot be reached", "unavailable", "the database stopped answering")

AUTH_ERRORS: dict[int | str, dict[str, Any]] = {401: UNAUTHORIZED, 429: RATE_LIMITED}
