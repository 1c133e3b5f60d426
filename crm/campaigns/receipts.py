"""POST /api/v1/delivery-receipts: the vendor's signed callback, written in batches.

Checks the HMAC signature over the raw body (401 when missing or wrong), then queues the receipt
for the next bulk_write and answers 202 only once that write is done, so an acknowledged receipt
is never lost and an unacknowledged one is retried by the vendor. Each receipt moves its log row
forward only: PENDING or SENT -> DELIVERED or FAILED. A repeated receipt matches nothing and
changes nothing, so counting (by aggregation over the log) stays exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, ValidationError
from pymongo import UpdateMany, UpdateOne
from pymongo.database import Database
from pymongo.errors import PyMongoError

from crm.api.errors import ApiError, ErrorDetail
from crm.api.routes.common import error
from crm.campaigns.batching import GroupCommit
from crm.campaigns.model import FAILED, PENDING, SENT
from crm.campaigns.repository import now
from crm.campaigns.signing import HEADER, receipt_secret, verify
from crm.config import Settings

PATH = "/api/v1/delivery-receipts"


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


def forward_only(allowed_from: list[str], changes: dict) -> list[dict]:
    """An update pipeline applying `changes` only when the row's status is in `allowed_from`.

    The filter stays on the unique (campaign_id, customer_id) key, so the server uses that index
    (a status condition in the filter made the embedded server scan). Values are $literal: a
    text from outside that starts with "$" must not be read as a field path.
    """
    moves = {"$in": ["$status", allowed_from]}
    fields = {name: {"$cond": [moves, {"$literal": value}, f"${name}"]}
              for name, value in changes.items() if name != "status"}
    if "status" in changes:  # last, in case stages are evaluated field by field
        fields["status"] = {"$cond": [moves, {"$literal": changes["status"]}, "$status"]}
    return [{"$set": fields}]


def receipt_update(receipt: Receipt) -> UpdateOne:
    """The forward-only change one receipt makes to its log row."""
    return UpdateOne(
        {"campaign_id": receipt.campaign_id, "customer_id": receipt.customer_id},
        forward_only([PENDING, SENT], {
            "error": receipt.reason if receipt.status == FAILED else None, "settled_at": receipt.occurred_at,
            "accepted": True, "vendor_message_id": receipt.vendor_message_id, "updated_at": now(),
            "status": receipt.status}))


def write_receipts(db: Database, receipts: Sequence[Receipt]) -> list[None]:
    """One batch in as few operations as possible: one UpdateMany per (campaign, outcome, second).

    The server's cost is per operation more than per document, so receipts that would make the
    same change share one `$in` update; the settle time is kept to the second. The vendor id is
    normally recorded by the dispatcher when the vendor accepts; rows that lack it (the sender
    died before writing it) get it from their receipt, one update each.
    """
    groups: dict[tuple, list[str]] = {}
    for r in receipts:
        settled = r.occurred_at.replace(microsecond=0)
        reason = r.reason if r.status == FAILED else None
        groups.setdefault((r.campaign_id, r.status, reason, settled), []).append(r.customer_id)
    stamp = now()
    ops = [UpdateMany({"campaign_id": campaign_id, "customer_id": {"$in": customer_ids}},
                      forward_only([PENDING, SENT], {"error": reason, "settled_at": settled, "accepted": True,
                                                     "updated_at": stamp, "status": status}))
           for (campaign_id, status, reason, settled), customer_ids in groups.items()]
    ops += _missing_vendor_ids(db, receipts)
    db.communication_log.bulk_write(ops, ordered=False)
    return [None] * len(receipts)


def _missing_vendor_ids(db: Database, receipts: Sequence[Receipt]) -> list[UpdateOne]:
    by_campaign: dict[str, dict[str, str]] = {}
    for r in receipts:
        by_campaign.setdefault(r.campaign_id, {})[r.customer_id] = r.vendor_message_id
    ops = []
    for campaign_id, vendor_ids in by_campaign.items():
        rows = db.communication_log.find({"campaign_id": campaign_id, "customer_id": {"$in": list(vendor_ids)}},
                                         {"_id": 0, "customer_id": 1, "vendor_message_id": 1})
        ops += [UpdateOne({"campaign_id": campaign_id, "customer_id": row["customer_id"]},
                          {"$set": {"vendor_message_id": vendor_ids[row["customer_id"]]}})
                for row in rows if not row.get("vendor_message_id")]
    return ops


def receipts_router(settings: Settings) -> APIRouter:
    """The receipt endpoint with its own batch writer (started and flushed with the app)."""
    state: dict = {}

    def database() -> Database:
        from crm.store import get_db

        return get_db(settings)

    @asynccontextmanager
    async def lifespan(app):
        state["secret"] = receipt_secret(settings)
        if settings.receipt_flush_size > 1:
            state["writer"] = GroupCommit(lambda batch: write_receipts(database(), batch),
                                          settings.receipt_flush_size, settings.receipt_flush_ms).start()
        app.state.receipt_writer = state.get("writer")
        try:
            yield
        finally:
            if state.get("writer") is not None:
                await state["writer"].close()  # flushed on shutdown: nothing queued is dropped

    router = APIRouter(tags=["delivery receipts"], lifespan=lifespan)

    @router.post(PATH, status_code=202, summary="Delivery receipt from the messaging vendor",
                 responses={401: error("missing or wrong signature", "unauthorized",
                                       f"the {HEADER} header does not match the body"),
                            503: error("the receipt could not be stored; send it again", "unavailable",
                                       "the database stopped answering"),
                            422: error("not a receipt", "invalid_receipt", "the receipt is not valid",
                                       [{"index": None, "field": "status", "reason": "Input should be 'DELIVERED'"}])})
    async def delivery_receipt(request: Request) -> dict:
        """Sign the raw body with HMAC-SHA256 and the shared secret: `X-Signature: sha256=<hex>`.

        Idempotent: a repeated receipt is accepted and changes nothing.
        """
        body = await request.body()
        if "secret" not in state:
            state["secret"] = receipt_secret(settings)
        if not verify(state["secret"], body, request.headers.get(HEADER)):
            raise ApiError(401, "unauthorized", f"the {HEADER} header does not match the body",
                           [ErrorDetail(field=HEADER, reason="missing or wrong HMAC-SHA256 signature")])
        try:
            receipt = Receipt.model_validate_json(body)
        except ValidationError as exc:
            details = [ErrorDetail(field=".".join(str(p) for p in e["loc"]) or "body", reason=e["msg"])
                       for e in exc.errors()]
            raise ApiError(422, "invalid_receipt", "the receipt is not valid", details) from None
        writer = state.get("writer")
        try:
            if writer is None:  # one update per receipt (the baseline the benchmark compares with)
                await run_in_threadpool(database().communication_log.bulk_write, [receipt_update(receipt)])
            else:
                await writer.submit(receipt)
        except PyMongoError as exc:
            raise ApiError(503, "unavailable", f"the receipt was not stored ({type(exc).__name__}); "
                                               "send it again") from None
        return {"accepted": True}

    return router
