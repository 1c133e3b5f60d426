"""GET /healthz: the database takes a real write and reads it back (and Redis answers, when
configured).

Anyone may call it, so its body says only which dependency is down, in plain words; what went
wrong (exception, host, port) goes to the server's log.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime

import pymongo
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from crm.api.errors import UNAVAILABLE_HEADERS, ErrorDetail, error_response
from crm.api.routes.common import error
from crm.api.schemas import Health

router = APIRouter(tags=["health"])
log = logging.getLogger("crm.api")

# A hung database must not hang the health check: each probe gets this long.
PROBE_SECONDS = 3.0
# One heartbeat document per API process: written, then read back.
HEARTBEAT_COLLECTION = "health_heartbeat"
_HEARTBEAT_ID = f"{socket.gethostname()}:{os.getpid()}"


def _database_problem(db) -> str | None:
    """None when the database takes a write and returns it; else, in plain words, what failed."""
    heartbeat = db[HEARTBEAT_COLLECTION]
    step = "did not accept a write"
    try:
        with pymongo.timeout(PROBE_SECONDS):
            written_at = datetime.now(UTC).replace(microsecond=0)
            heartbeat.update_one({"_id": _HEARTBEAT_ID}, {"$set": {"at": written_at}}, upsert=True)
            step = "did not answer a read"
            found = heartbeat.find_one({"_id": _HEARTBEAT_ID})
        if found is None or found.get("at") is None or found["at"].replace(tzinfo=UTC) < written_at:
            log.warning("health check: the heartbeat just written was not read back: %r", found)
            return "lost a write it had accepted"
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"; details to the log
        log.warning("health check: the database %s: %s: %s", step, type(exc).__name__, str(exc)[:500])
        return step


def _check(request: Request) -> tuple[dict, list[ErrorDetail]]:
    state = request.app.state
    status, problems = {"database": "ok", "redis": "not configured"}, []
    try:
        problem = _database_problem(state.db())
    except Exception as exc:  # noqa: BLE001 - e.g. the embedded server cannot be started
        log.warning("health check: no database: %s: %s", type(exc).__name__, str(exc)[:500])
        problem = "cannot be reached"
    if problem:
        status["database"] = "unavailable"
        problems.append(ErrorDetail(field="database", reason=f"the database {problem}"))
    if state.redis is not None:
        try:
            state.redis.ping()
            status["redis"] = "ok"
        except Exception as exc:  # noqa: BLE001
            log.warning("health check: Redis: %s: %s", type(exc).__name__, str(exc)[:500])
            status["redis"] = "unavailable"
            problems.append(ErrorDetail(field="redis", reason="Redis does not answer"))
    return status, problems


@router.get(
    "/healthz",
    summary="Is the API able to work?",
    response_model=None,
    responses={
        200: {
            "model": Health,
            "description": "the database takes a write and reads it back; Redis answers when configured",
            "content": {"application/json": {"example": {"status": "ok", "database": "ok", "redis": "not configured"}}},
        },
        503: error(
            "a dependency does not work; see Retry-After",
            "unavailable",
            "the database is unavailable",
            [{"index": None, "field": "database", "reason": "the database did not accept a write"}],
            headers={"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}},
        ),
    },
)
async def healthz(request: Request) -> JSONResponse:
    status, problems = await run_in_threadpool(_check, request)
    if problems:
        names = " and ".join("the database" if p.field == "database" else "Redis" for p in problems)
        return error_response(
            503,
            "unavailable",
            f"{names} {'is' if len(problems) == 1 else 'are'} unavailable",
            problems,
            headers=UNAVAILABLE_HEADERS,
        )
    return JSONResponse({"status": "ok", **status})
