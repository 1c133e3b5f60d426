"""GET /healthz: the database answers (and Redis, when configured)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from crm.api.errors import ErrorDetail, error_response
from crm.api.routes.common import error
from crm.api.schemas import Health

router = APIRouter(tags=["health"])


def _check(request: Request) -> tuple[dict, list[ErrorDetail]]:
    state = request.app.state
    status, problems = {"database": "ok", "redis": "not configured"}, []
    try:
        state.db().command("ping")
    except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"
        status["database"] = "unreachable"
        problems.append(ErrorDetail(field="database", reason=f"{type(exc).__name__}: {str(exc)[:200]}"))
    if state.redis is not None:
        try:
            state.redis.ping()
            status["redis"] = "ok"
        except Exception as exc:  # noqa: BLE001
            status["redis"] = "unreachable"
            problems.append(ErrorDetail(field="redis", reason=f"{type(exc).__name__}: {str(exc)[:200]}"))
    return status, problems


@router.get("/healthz", summary="Is the API able to work?", response_model=None,
            responses={200: {"model": Health, "description": "everything answers",
                             "content": {"application/json": {"example": {
                                 "status": "ok", "database": "ok", "redis": "not configured"}}}},
                       503: error("a dependency does not answer", "unavailable", "the database is unreachable",
                                  [{"index": None, "field": "database", "reason": "ServerSelectionTimeoutError"}])})
async def healthz(request: Request) -> JSONResponse:
    status, problems = await run_in_threadpool(_check, request)
    if problems:
        names = " and ".join(p.field for p in problems)
        return error_response(503, "unavailable", f"the {names} {'is' if len(problems) == 1 else 'are'} unreachable",
                              problems)
    return JSONResponse({"status": "ok", **status})
