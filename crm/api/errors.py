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
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException

from crm.errors import Conflict, CRMError, Forbidden, InvalidInput, NotFound, Unavailable

log = logging.getLogger("crm.api")


class ErrorDetail(BaseModel):
    index: int | None = Field(
        default=None, description="position of the bad item in the request array (0 for a single object)"
    )
    field: str | None = Field(default=None, description="the field (or header, or path part) that is wrong")
    reason: str


class ErrorBody(BaseModel):
    code: str = Field(description="stable machine-readable code, e.g. invalid_records")
    message: str = Field(description="what is wrong, for a person")
    details: list[ErrorDetail] = []


class ErrorResponse(BaseModel):
    error: ErrorBody


class ApiError(Exception):
    """An error with its HTTP status, raised by routes and dependencies."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[ErrorDetail] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = details or []
        self.headers = headers


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[ErrorDetail] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
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


# Seconds a client is asked to wait when a dependency is down: about one restart of the
# embedded server by its watchdog.
RETRY_AFTER_SECONDS = "2"
UNAVAILABLE_HEADERS = {"Retry-After": RETRY_AFTER_SECONDS}
# Server answers that mean "the database cannot work now", not "your request is wrong":
# InternalError (a storage failure), shutdown and step-down, time limits.
_UNAVAILABLE_CODES = {1, 6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436}


def database_unavailable(exc: PyMongoError) -> bool:
    """Is this pymongo error the database being down or failing, rather than our request?"""
    if isinstance(exc, ConnectionFailure) or getattr(exc, "timeout", False):
        return True
    return isinstance(exc, OperationFailure) and exc.code in _UNAVAILABLE_CODES


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


def _database_unavailable(request: Request, exc: Exception, what: str = "the database") -> JSONResponse:
    # The details (hosts, ports, server messages) stay in the server's log.
    log.warning(
        "%s unavailable on %s %s: %s: %s", what, request.method, request.url.path, type(exc).__name__, str(exc)[:500]
    )
    return error_response(
        503,
        "unavailable",
        f"{what} is not answering right now; retry in "
        f"{RETRY_AFTER_SECONDS} s (writes are upserts by id, so sending the same "
        "batch again is safe)",
        headers=UNAVAILABLE_HEADERS,
    )


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
        return error_response(
            exc.status_code, _status_code_name(exc.status_code), message, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(CRMError)
    async def core_error(request: Request, exc: CRMError):
        # The text of a database's or Redis's error names hosts and ports: not for callers.
        if isinstance(exc, Unavailable) and isinstance(exc.__cause__, PyMongoError):
            return _database_unavailable(request, exc)
        if isinstance(exc, Unavailable) and isinstance(exc.__cause__, RedisError):
            return _database_unavailable(request, exc, "the queue (Redis)")
        for cls, status, code in _CORE_ERRORS:
            if isinstance(exc, cls):
                field = exc.location if isinstance(exc, InvalidInput) else None
                message = exc.message if isinstance(exc, InvalidInput) else str(exc)
                details = [ErrorDetail(field=field, reason=message)] if field else []
                headers = UNAVAILABLE_HEADERS if status == 503 else None
                return error_response(status, code, message, details, headers)
        return error_response(400, "bad_request", str(exc))

    @app.exception_handler(PyMongoError)
    async def database_error(request: Request, exc: PyMongoError):
        if not database_unavailable(exc):
            return await unexpected(request, exc)
        return _database_unavailable(request, exc)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")
