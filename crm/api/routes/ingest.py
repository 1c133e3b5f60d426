"""POST /api/v1/customers and /api/v1/orders: one object or an array, validated whole."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from crm.api.accept import BatchRejected, Queued, accept_batch
from crm.api.auth import authorized
from crm.api.errors import ApiError, ErrorDetail
from crm.api.routes.common import AUTH_ERRORS, UNAVAILABLE, error
from crm.api.schemas import QueuedBatch, WriteSummary, request_body
from crm.apikeys import ApiKey

router = APIRouter(prefix="/api/v1", tags=["ingestion"])


def _no_constants(name: str):
    raise ValueError(f"{name} is not a JSON number")


async def read_items(request: Request) -> list:
    """The JSON body as a list of items (a single object is item 0)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise ApiError(415, "unsupported_media_type", "send the body as JSON with "
                       "'Content-Type: application/json'", [ErrorDetail(field="Content-Type", reason=
                                                                       f"got {media_type or 'none'!r}")])
    body = bytearray()
    async for chunk in request.stream():  # the body-size middleware stops this past the limit
        body += chunk
    try:
        data = json.loads(body, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {str(exc)[:200]}") from None
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        return data
    raise ApiError(422, "invalid_records", "the body must be one object or an array of objects",
                   [ErrorDetail(field="body", reason=f"got a JSON {type(data).__name__}")])


def _responses(kind: str) -> dict:
    item = "order" if kind == "orders" else "customer"
    details = ([{"index": 1, "field": "amount", "reason": "the amount must not be negative (got -5)"},
                {"index": 2, "field": "customer_id",
                 "reason": "unknown customer 'C-9': import the customer first"}]
               if kind == "orders" else
               [{"index": 0, "field": "email", "reason": "'asha@' is not a valid email address"},
                {"index": 3, "field": "$where", "reason": "field name '$where' is not allowed"}])
    return {
        200: {"model": WriteSummary, "description": f"written (direct mode): {kind} upserted by id",
              "content": {"application/json": {"example": {"inserted": 1, "updated": 1, "unchanged": 0}}}},
        202: {"model": QueuedBatch, "description": "validated and queued (Redis mode); a worker writes it",
              "content": {"application/json": {"example": {"queued": 2, "entry_id": "1732560000000-0"}}}},
        400: error("the body is not JSON", "invalid_json", "the body is not valid JSON: Expecting value"),
        **AUTH_ERRORS,
        413: error("the body is over the size limit", "body_too_large",
                   "the request body is larger than 10485760 bytes; send smaller batches"),
        415: error("the body is not sent as JSON", "unsupported_media_type",
                   "send the body as JSON with 'Content-Type: application/json'"),
        422: error(f"some {item} is invalid; nothing was written", "invalid_records",
                   f"2 invalid {kind}; nothing was written", details),
        503: UNAVAILABLE,
    }


async def _ingest(kind: str, request: Request, key: ApiKey) -> JSONResponse:
    items = await read_items(request)
    state = request.app.state
    try:
        outcome = await run_in_threadpool(accept_batch, state.db(), kind, items, state.producer, by=key)
    except BatchRejected as exc:
        details = [ErrorDetail(index=e.row, field=e.column or None, reason=e.reason) for e in exc.errors]
        bad_items = len({e.row for e in exc.errors})
        raise ApiError(422, "invalid_records",
                       f"{bad_items} invalid item(s) of {len(items)}; nothing was written", details) from None
    if isinstance(outcome, Queued):
        return JSONResponse({"queued": outcome.queued, "entry_id": outcome.entry_id}, status_code=202)
    return JSONResponse({"inserted": outcome.inserted, "updated": outcome.updated,
                         "unchanged": outcome.unchanged})


@router.post("/customers", summary="Create or update customers", responses=_responses("customers"),
             openapi_extra=request_body("customers"), response_model=None,
             description="One customer object or an array of them, upserted by `customer_id`. "
                         "The batch is validated whole: any invalid item means 422 and nothing is "
                         "written. Sending the same request again is safe.")
async def post_customers(request: Request, key: ApiKey = Depends(authorized)) -> JSONResponse:
    return await _ingest("customers", request, key)


@router.post("/orders", summary="Create or update orders", responses=_responses("orders"),
             openapi_extra=request_body("orders"), response_model=None,
             description="One order object or an array of them, upserted by `order_id`; `amount` in "
                         "rupees (at most 2 decimals). Every order's customer must exist (or be "
                         "queued): otherwise 422 naming it. Nothing is written unless all are valid.")
async def post_orders(request: Request, key: ApiKey = Depends(authorized)) -> JSONResponse:
    return await _ingest("orders", request, key)
