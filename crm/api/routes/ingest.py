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
from crm.auth.api_keys import ApiKey
from crm.ingest.reading import workspace_reading
from crm.ingest.records import Kind

router = APIRouter(prefix="/api/v1", tags=["ingestion"])
# Items per request: a batch is validated whole and answered in one response, so its size is
# bounded; 10,000 items validate in well under a second. Larger loads go in several requests.
MAX_BATCH_ITEMS = 10_000
# Problems listed in one 422 (the message gives the total): a wholly bad batch would otherwise
# answer with an error body larger than the request.
MAX_ERROR_DETAILS = 100


def _no_constants(name: str):
    raise ValueError(f"{name} is not a JSON number")


class _Repeated(dict):
    """A JSON object that named a key more than once (json.loads would keep the last silently)."""

    repeated: list[str]


def _objects(pairs: list[tuple[str, object]]) -> dict:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    marked = _Repeated(obj)
    seen: set[str] = set()
    repeated: list[str] = []
    for k, _ in pairs:  # each key given twice, in the order of its second mention
        if k in seen and k not in repeated:
            repeated.append(k)
        seen.add(k)
    marked.repeated = repeated
    return marked


def _repeated_keys(items: list) -> list[ErrorDetail]:
    """Each key repeated in an object, with the item it is in (objects nest: walked without
    recursion, so depth costs no stack)."""
    details = []
    for index, item in enumerate(items):
        stack = [item]
        while stack:
            value = stack.pop()
            if isinstance(value, _Repeated):
                details += [
                    ErrorDetail(
                        index=index,
                        field=key,
                        reason=f"the key {key!r} appears more than once in one object; send each field once",
                    )
                    for key in value.repeated
                ]
            if isinstance(value, dict):
                stack.extend(value.values())
            elif isinstance(value, list):
                stack.extend(value)
    return details


async def read_items(request: Request) -> list:
    """The JSON body as a list of items (a single object is item 0)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise ApiError(
            415,
            "unsupported_media_type",
            "send the body as JSON with 'Content-Type: application/json'",
            [ErrorDetail(field="Content-Type", reason=f"got {media_type or 'none'!r}")],
        )
    body = bytearray()
    async for chunk in request.stream():  # the body-size middleware stops this past the limit
        body += chunk
    repeated = False

    def objects(pairs):
        nonlocal repeated
        obj = _objects(pairs)
        repeated = repeated or isinstance(obj, _Repeated)
        return obj

    try:
        # First without a hook (all C): a million tiny items are counted and refused in a
        # fraction of the time a Python call per object would take.
        data = json.loads(body, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {str(exc)[:200]}") from None
    if isinstance(data, list) and len(data) > MAX_BATCH_ITEMS:  # before any item is looked at
        raise ApiError(
            413,
            "too_many_items",
            f"the batch has {len(data):,} items; send at most {MAX_BATCH_ITEMS:,} per request",
            [ErrorDetail(field="body", reason=f"at most {MAX_BATCH_ITEMS:,} items")],
        )
    if not isinstance(data, (dict, list)):
        raise ApiError(
            422,
            "invalid_records",
            "the body must be one object or an array of objects",
            [ErrorDetail(field="body", reason=f"got a JSON {_json_type(data)}")],
        )
    data = json.loads(body, parse_constant=_no_constants, object_pairs_hook=objects)  # keys repeated?
    if isinstance(data, dict):
        data = [data]
    not_objects = [
        ErrorDetail(index=i, field="body", reason=f"each item must be an object, got a JSON {_json_type(item)}")
        for i, item in enumerate(data)
        if not isinstance(item, dict)
    ]
    if not_objects:
        raise _invalid(f"{len(not_objects)} item(s) of {len(data)} are not objects; nothing was written", not_objects)
    if repeated:
        details = _repeated_keys(data)
        raise _invalid(
            f"{len(details)} repeated key(s) in {len({d.index for d in details})} item(s) of "
            f"{len(data)}; nothing was written",
            details,
        )
    return data


def _json_type(value: object) -> str:
    names = {type(None): "null", bool: "boolean", int: "number", float: "number", str: "string", list: "array"}
    return names.get(type(value), type(value).__name__)


def _invalid(summary: str, details: list[ErrorDetail]) -> ApiError:
    """The 422 of a rejected batch: the first MAX_ERROR_DETAILS problems, and how many in all."""
    if len(details) > MAX_ERROR_DETAILS:
        summary += f" ({len(details):,} problems; the first {MAX_ERROR_DETAILS} are listed)"
    return ApiError(422, "invalid_records", summary, details[:MAX_ERROR_DETAILS])


def _responses(kind: str) -> dict:
    item = "order" if kind == "orders" else "customer"
    details = (
        [
            {"index": 1, "field": "amount", "reason": "the amount must not be negative (got -5)"},
            {"index": 2, "field": "customer_id", "reason": "unknown customer 'C-9': import the customer first"},
        ]
        if kind == "orders"
        else [
            {"index": 0, "field": "email", "reason": "'asha@' is not a valid email address"},
            {"index": 3, "field": "$where", "reason": "field name '$where' is not allowed"},
        ]
    )
    return {
        200: {
            "model": WriteSummary,
            "description": f"written (direct mode): {kind} upserted by id",
            "content": {"application/json": {"example": {"inserted": 1, "updated": 1, "unchanged": 0}}},
        },
        202: {
            "model": QueuedBatch,
            "description": "validated and queued (Redis mode); a worker writes it",
            "content": {"application/json": {"example": {"queued": 2, "entry_id": "1732560000000-0"}}},
        },
        400: error("the body is not JSON", "invalid_json", "the body is not valid JSON: Expecting value"),
        **AUTH_ERRORS,
        413: error(
            f"the body is over the size limit, or the batch has more than {MAX_BATCH_ITEMS:,} items",
            "too_many_items",
            f"the batch has 12,000 items; send at most {MAX_BATCH_ITEMS:,} per request",
        ),
        415: error(
            "the body is not sent as JSON",
            "unsupported_media_type",
            "send the body as JSON with 'Content-Type: application/json'",
        ),
        422: error(
            f"some {item} is invalid; nothing was written",
            "invalid_records",
            f"2 invalid {kind}; nothing was written",
            details,
        ),
        503: UNAVAILABLE,
    }


async def _ingest(kind: Kind, request: Request, key: ApiKey) -> JSONResponse:
    items = await read_items(request)
    state = request.app.state
    try:
        outcome = await run_in_threadpool(
            accept_batch, state.db(), kind, items, state.producer, by=key, reading=workspace_reading(state.settings)
        )
    except BatchRejected as exc:
        details = [ErrorDetail(index=e.row, field=e.column or None, reason=e.reason) for e in exc.errors]
        bad_items = len({e.row for e in exc.errors})
        raise _invalid(f"{bad_items} invalid item(s) of {len(items)}; nothing was written", details) from None
    if isinstance(outcome, Queued):
        return JSONResponse({"queued": outcome.queued, "entry_id": outcome.entry_id}, status_code=202)
    return JSONResponse({"inserted": outcome.inserted, "updated": outcome.updated, "unchanged": outcome.unchanged})


@router.post(
    "/customers",
    summary="Create or update customers",
    responses=_responses("customers"),
    openapi_extra=request_body("customers"),
    response_model=None,
    description="One customer object or an array of them, upserted by `customer_id`. "
    "The batch is validated whole: any invalid item means 422 and nothing is "
    f"written. At most {MAX_BATCH_ITEMS:,} items per request (413 beyond); a 422 "
    f"lists at most {MAX_ERROR_DETAILS} problems and says how many there are. "
    "Text may not hold control characters or bidi controls, and a key may appear "
    "only once in an object. Sending the same request again is safe.",
)
async def post_customers(request: Request, key: ApiKey = Depends(authorized)) -> JSONResponse:
    return await _ingest("customers", request, key)


@router.post(
    "/orders",
    summary="Create or update orders",
    responses=_responses("orders"),
    openapi_extra=request_body("orders"),
    response_model=None,
    description="One order object or an array of them, upserted by `order_id`; `amount` in "
    "rupees (at most 2 decimals). Every order's customer must exist (or be "
    "queued): otherwise 422 naming it. Nothing is written unless all are valid. "
    f"At most {MAX_BATCH_ITEMS:,} items per request (413 beyond); a 422 lists at "
    f"most {MAX_ERROR_DETAILS} problems and says how many there are.",
)
async def post_orders(request: Request, key: ApiKey = Depends(authorized)) -> JSONResponse:
    return await _ingest("orders", request, key)
