"""Every error the API returns is one JSON shape: {"error": {"code", "message", "details"}}.

`details` lists what is wrong and where: for a batch, the item's index and field. The handlers
here are the one place where exceptions become HTTP responses; a traceback never leaves the
server.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from crm.errors import Conflict, CRMError, Forbidden, InvalidInput, NotFound, Unavailable

log = logging.getLogger("crm.api")


class ErrorDetail(BaseModel):
    index: int | None = Field(None, description="position of the bad item in the request array (0 for a single object)")
    field: str | None = Field(None, description="the field (or header, or path part) that is wrong")
    reason: str


class ErrorBody(BaseModel):
    code: str = Field(description="stable machine-readable code, e.g. invalid_records")
    message: str = Field(description="what is wrong, for a person")
    details: list[ErrorDetail] = []


class ErrorResponse(BaseModel):
    error: ErrorBody


class ApiError(Exception):
    """An error with its HTTP status, raised by routes and dependencies."""

    def __init__(self, status: int, code: str, message: str,
                 details: list[ErrorDetail] | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = details or []
        self.headers = headers


def error_response(status: int, code: str, message: str, details: list[ErrorDetail] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorResponse(error=ErrorBody(code=code, message=message, details=details or []))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def error_example(code: str, message: str, details: list[dict] | None = None) -> dict:
    """An OpenAPI example of the error body."""
    return {"error": {"code": code, "message": message, "details": details or []}}


_CORE_ERRORS: list[tuple[type[CRMError], int, str]] = [
    (InvalidInput, 422, "invalid_input"),
    (NotFound, 404, "not_found"),
    (Conflict, 409, "conflict"),
    (Forbidden, 403, "forbidden"),
    (Unavailable, 503, "unavailable"),
]


def _status_code_name(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def _location(loc: tuple) -> tuple[int | None, str | None]:
    """FastAPI's ("body", 3, "amount") -> index 3, field "amount"; ("path", "id") -> field "id"."""
    parts = [p for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    index = parts.pop(0) if parts and isinstance(parts[0], int) else None
    return index, ".".join(str(p) for p in parts) or (str(loc[0]) if loc else None)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(_: Request, exc: RequestValidationError):
        details = []
        for err in exc.errors():
            index, field = _location(tuple(err.get("loc", ())))
            details.append(ErrorDetail(index=index, field=field, reason=err.get("msg", "invalid")))
        return error_response(422, "invalid_request", "the request is not valid", details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException):
        message = exc.detail if isinstance(exc.detail, str) else _status_code_name(exc.status_code)
        return error_response(exc.status_code, _status_code_name(exc.status_code), message,
                              headers=getattr(exc, "headers", None))

    @app.exception_handler(CRMError)
    async def core_error(_: Request, exc: CRMError):
        for cls, status, code in _CORE_ERRORS:
            if isinstance(exc, cls):
                field = exc.location if isinstance(exc, InvalidInput) else None
                message = exc.message if isinstance(exc, InvalidInput) else str(exc)
                details = [ErrorDetail(field=field, reason=message)] if field else []
                return error_response(status, code, message, details)
        return error_response(400, "bad_request", str(exc))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")
