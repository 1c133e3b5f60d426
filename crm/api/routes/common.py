"""Error responses shared by the routes' OpenAPI declarations."""

from __future__ import annotations

from crm.api.errors import ErrorResponse, error_example


def error(description: str, code: str, message: str, details: list[dict] | None = None) -> dict:
    return {"model": ErrorResponse, "description": description,
            "content": {"application/json": {"example": error_example(code, message, details)}}}


UNAUTHORIZED = error("missing, unknown or revoked API key", "unauthorized",
                     "send an API key as 'Authorization: Bearer <key>'")
RATE_LIMITED = error("too many requests for this key; see Retry-After", "rate_limited",
                     "too many requests for this API key; retry in 1 s")
UNAVAILABLE = error("the database or the queue cannot be reached", "unavailable",
                    "the database stopped answering")

AUTH_ERRORS = {401: UNAUTHORIZED, 429: RATE_LIMITED}
AUTH_ERRORS[401]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
AUTH_ERRORS[429]["headers"] = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}}
