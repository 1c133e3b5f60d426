"""POST /api/v1/delivery-receipts: the vendor's signed callback, written in batches.

The body is one receipt or an array of up to 1,000 (vendors post their events in batches: one
request per message spends more on HTTP than on storing it). Checks the timestamped HMAC
signature over the raw body (`signing.py`; 401 saying why when missing, malformed, stale or
wrong), then queues the receipts for the next write to the receipt journal
(`receipt_journal.py`) and answers 202 only once that write is done, so an
acknowledged receipt is never lost and an unacknowledged one is retried by the vendor. The
journal then moves each log row forward only: PENDING or SENT -> DELIVERED or FAILED. A repeated
receipt is dropped by the journal and changes nothing, so counting (by aggregation over the
log) stays exact.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from pymongo import UpdateMany, UpdateOne
from pymongo.database import Database
from pymongo.errors import PyMongoError

from crm.api.errors import ApiError, ErrorDetail
from crm.api.routes.common import error
from crm.campaigns.batching import GroupCommit
from crm.campaigns.model import FAILED, PENDING, SENT
from crm.campaigns.repository import now
from crm.campaigns.signing import FORMAT, HEADER, SignatureError, openapi_declaration, receipt_secrets, sign, verify
from crm.config import Settings

PATH = "/api/v1/delivery-receipts"
MAX_RECEIPTS_PER_REQUEST = 1_000
# The embedded server evaluates `$in` against every matched document: keep the lists short.
IN_CHUNK = 200


class Receipt(BaseModel):
    """What the vendor reports about one message."""

    idempotency_key: str = Field(min_length=3, max_length=400, pattern=r"^[0-9a-f]{24}:.+$",
                                 description="the key the message was sent with: <campaign_id>:<customer_id>")
    vendor_message_id: str = Field(min_length=1, max_length=100)
    status: Literal["DELIVERED", "FAILED"]
    reason: str | None = Field(default=None, max_length=500, description="why it failed")
    occurred_at: datetime

    @property
    def campaign_id(self) -> str:
        return self.idempotency_key.split(":", 1)[0]

    @property
    def customer_id(self) -> str:
        return self.idempotency_key.split(":", 1)[1]


def forward_only(allowed_from: list[str], changes: dict, computed: dict | None = None) -> list[dict]:
    """An update pipeline applying `changes` only when the row's status is in `allowed_from`.

    The filter stays on the unique (campaign_id, customer_id) key, so the server uses that index
    (a status condition in the filter made the embedded server scan). Values are $literal: a
    text from outside that starts with "$" must not be read as a field path. `computed` holds
    expressions (such as `per_row`) applied under the same condition.
    """
    moves = {"$in": ["$status", allowed_from]}
    values = {name: {"$literal": value} for name, value in changes.items()}
    values.update(computed or {})
    fields = {name: {"$cond": [moves, value, f"${name}"]} for name, value in values.items() if name != "status"}
    if "status" in values:  # last, in case stages are evaluated field by field
        fields["status"] = {"$cond": [moves, values["status"], "$status"]}
    return [{"$set": fields}]


def per_row(customer_ids: list[str], values: list) -> dict:
    """In an update of many rows, each row's own value: `values[i]` for the row of `customer_ids[i]`.

    This is what lets one UpdateMany replace a list of UpdateOnes and still write exact per-row
    facts (vendor id, times): the embedded server's cost is per operation more than per row.
    """
    return {"$arrayElemAt": [{"$literal": values}, {"$indexOfArray": [{"$literal": customer_ids}, "$customer_id"]}]}


def chunks(items: Sequence, size: int = IN_CHUNK):
    for start in range(0, len(items), size):
        yield items[start:start + size]


_ONE_OR_MANY = TypeAdapter(Receipt | list[Receipt])


def parse_receipts(body: bytes) -> list[Receipt]:
    """One receipt or an array of them; else a 422 naming each bad item and field."""
    try:
        parsed = _ONE_OR_MANY.validate_json(body)
    except ValidationError as exc:
        raise ApiError(422, "invalid_receipt", "the receipt is not valid", _details(exc)) from None
    receipts = parsed if isinstance(parsed, list) else [parsed]
    if not 1 <= len(receipts) <= MAX_RECEIPTS_PER_REQUEST:
        raise ApiError(422, "invalid_receipt", f"send 1 to {MAX_RECEIPTS_PER_REQUEST} receipts per request",
                       [ErrorDetail(field="body", reason=f"{len(receipts)} receipts")])
    return receipts


def _details(exc: ValidationError) -> list[ErrorDetail]:
    """Errors of the single-object reading when the body is an object, else of the array's items."""
    errors = exc.errors()
    as_list = [e for e in errors if e["loc"] and e["loc"][0] == "list[Receipt]"]
    chosen = as_list if as_list and any(len(e["loc"]) > 1 for e in as_list) else \
        [e for e in errors if e["loc"] and e["loc"][0] == "Receipt"] or errors
    details = []
    for e in chosen:
        loc = list(e["loc"][1:]) if e["loc"] and e["loc"][0] in ("Receipt", "list[Receipt]") else list(e["loc"])
        index = loc.pop(0) if e["loc"][:1] == ("list[Receipt]",) and loc and isinstance(loc[0], int) else None
        details.append(ErrorDetail(index=index, field=".".join(str(p) for p in loc) or "body", reason=e["msg"]))
    return details


def receipt_update(receipt: Receipt) -> UpdateOne:
    """The forward-only change one receipt makes to its log row."""
    return UpdateOne(
        {"campaign_id": receipt.campaign_id, "customer_id": receipt.customer_id},
        forward_only([PENDING, SENT], {
            "error": receipt.reason if receipt.status == FAILED else None, "settled_at": receipt.occurred_at,
            "accepted": True, "vendor_message_id": receipt.vendor_message_id, "updated_at": now(),
            "status": receipt.status}))


def write_receipts(db: Database, receipts: Sequence[Receipt]) -> list[None]:
    """One batch in as few operations as possible: one UpdateMany per (campaign, outcome, reason).

    Forward-only: a row already DELIVERED or FAILED is left alone, so a repeated or late receipt
    changes nothing. The settle time and vendor id stay exact per row (`per_row`); the vendor id
    is normally recorded when the vendor accepts, and is filled from the receipt on rows whose
    sender died before writing it.
    """
    groups: dict[tuple, dict[str, Receipt]] = {}
    for r in receipts:
        reason = r.reason if r.status == FAILED else None
        groups.setdefault((r.campaign_id, r.status, reason), {}).setdefault(r.customer_id, r)
    stamp = now()
    ops = []
    for (campaign_id, status, reason), by_customer in groups.items():
        for chunk in chunks(list(by_customer.values())):
            ids = [r.customer_id for r in chunk]
            computed = {"settled_at": per_row(ids, [r.occurred_at for r in chunk]),
                        "vendor_message_id": {"$ifNull": ["$vendor_message_id",
                                                          per_row(ids, [r.vendor_message_id for r in chunk])]}}
            ops.append(UpdateMany({"campaign_id": campaign_id, "customer_id": {"$in": ids}},
                                  forward_only([PENDING, SENT], {"error": reason, "accepted": True,
                                                                 "updated_at": stamp, "status": status}, computed)))
    if ops:
        db.communication_log.bulk_write(ops, ordered=False)
    return [None] * len(receipts)


_EXAMPLE = {"idempotency_key": "665f1c2e9b1d4a0012345678:C-1001", "vendor_message_id": "v-1",
            "status": "DELIVERED", "reason": None, "occurred_at": "2025-06-01T10:00:00Z"}
_OPENAPI = {
    **openapi_declaration("receiptSecret", "CRM_RECEIPT_SECRET, or the data dir's receipt-secret file",
                          sign(b"<receipt secret>", b"{}", 1748772000)),
    "requestBody": {"required": True, "content": {"application/json": {
        "schema": {"anyOf": [Receipt.model_json_schema(),
                             {"type": "array", "items": Receipt.model_json_schema(),
                              "minItems": 1, "maxItems": MAX_RECEIPTS_PER_REQUEST}]},
        "example": _EXAMPLE}}},
}


def receipts_router(settings: Settings) -> APIRouter:
    """The receipt endpoint with its own batch writer (started and flushed with the app)."""
    state: dict = {}

    def database() -> Database:
        from crm.store import get_db

        return get_db(settings)

    @asynccontextmanager
    async def lifespan(app):
        from crm.campaigns.receipt_journal import Applier, apply_journal, store_receipts, unsettled_campaigns

        state["secrets"] = receipt_secrets(settings)
        recovery = None
        if settings.receipt_flush_size > 1:
            db = await asyncio.to_thread(database)
            state["writer"] = GroupCommit(lambda batch: store_receipts(db, batch),
                                          settings.receipt_flush_size, settings.receipt_flush_ms).start()
            state["applier"] = Applier(db).start()
            # Receipts a stopped process stored but never applied (in the background: serve now).
            recovery = asyncio.get_running_loop().create_task(
                asyncio.to_thread(lambda: apply_journal(db, unsettled_campaigns(db))))
        app.state.receipt_writer = state.get("writer")
        try:
            yield
        finally:
            if state.get("writer") is not None:
                await state["writer"].close()  # flushed on shutdown: nothing queued is dropped
                await state["applier"].close()
            if recovery is not None:
                await asyncio.gather(recovery, return_exceptions=True)

    router = APIRouter(tags=["delivery receipts"], lifespan=lifespan)

    @router.post(PATH, status_code=202, summary="Delivery receipt from the messaging vendor",
                 openapi_extra=_OPENAPI,
                 responses={401: error("missing, malformed, stale or wrong signature", "unauthorized",
                                       "the signature timestamp is 360 s old, 60 s more than the 300 s "
                                       "allowed: sign each request when it is sent",
                                       [{"index": None, "field": HEADER, "reason": f"expected {FORMAT}"}]),
                            503: error("the receipt could not be stored; send it again", "unavailable",
                                       "the database stopped answering"),
                            422: error("not a receipt", "invalid_receipt", "the receipt is not valid",
                                       [{"index": None, "field": "status", "reason": "Input should be 'DELIVERED'"}])})
    async def delivery_receipt(request: Request) -> dict:
        """Signed with the shared secret: `X-Signature: t=<unix seconds>,v1=<hex>`, the hex being
        the HMAC-SHA256 of `<t>.<raw body>`. Refused once the timestamp is more than 5 minutes old
        or ahead (`CRM_SIGNATURE_TOLERANCE_SECONDS`), so a captured receipt cannot be replayed.

        The body is one receipt or an array of up to 1,000. Idempotent: a repeated receipt is
        accepted and changes nothing.
        """
        body = await request.body()
        if "secrets" not in state:
            state["secrets"] = receipt_secrets(settings)
        try:
            verify(state["secrets"].accepted, body, request.headers.get(HEADER),
                   tolerance=settings.signature_tolerance_seconds)
        except SignatureError as exc:
            raise ApiError(401, "unauthorized", str(exc),
                           [ErrorDetail(field=HEADER, reason=f"expected {FORMAT}")]) from None
        receipts = parse_receipts(body)
        writer = state.get("writer")
        try:
            if writer is None:  # one update per receipt (the baseline the benchmark compares with)
                await run_in_threadpool(database().communication_log.bulk_write,
                                        [receipt_update(r) for r in receipts])
            else:  # stored in the journal (acknowledged), then applied to the log in the background
                fresh = await writer.submit_many(receipts)
                state["applier"].add([r for r, new in zip(receipts, fresh) if new])
        except PyMongoError as exc:
            raise ApiError(503, "unavailable", f"the receipt was not stored ({type(exc).__name__}); "
                                               "send it again") from None
        return {"accepted": True, "receipts": len(receipts)}

    return router
