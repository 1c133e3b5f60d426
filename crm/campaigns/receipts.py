"""POST /api/v1/delivery-receipts: the vendor's signed callback, written in batches.

The body is one receipt or an array of up to 1,000 (vendors post their events in batches: one
request per message spends more on HTTP than on storing it). Checks the timestamped HMAC
signature over the raw body (`signing.py`; 401 saying why when missing, malformed, stale or
wrong), then checks each receipt is about a message we sent to the vendor: its log row exists
and its `vendor_message_id` is the id the vendor gave when it accepted the message, which the
dispatcher recorded on the row (`check_known`). A receipt that fails is refused and nothing of it is stored. The others are queued for the next write to the
receipt journal (`receipt_journal.py`), and the answer comes only once that write is done, so an
acknowledged receipt is never lost and an unacknowledged one is retried by the vendor. The
journal then moves each log row forward only: PENDING or SENT -> DELIVERED or FAILED. A repeated
receipt is dropped by the journal and changes nothing, so counting (by aggregation over the
log) stays exact.

A batch with some refused receipts stores the good ones and answers 202 listing the refused
ones (`refused`: index, key, reason, and `retry` when sending it again later can succeed): a
batch sender that retries whole requests would otherwise resend the good ones forever behind
one bad item. When every receipt of a request is refused the answer is a 409 `unknown_message`
error naming each; `Retry-After` is set when all of them may succeed later (the vendor's
answer to our send is not recorded yet: a receipt can overtake it).
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
            "accepted": True, "updated_at": now(), "status": receipt.status}))


def write_receipts(db: Database, receipts: Sequence[Receipt]) -> list[None]:
    """One batch in as few operations as possible: one UpdateMany per (campaign, outcome, reason).

    Forward-only: a row already DELIVERED or FAILED is left alone, so a repeated or late receipt
    changes nothing. The settle time stays exact per row (`per_row`). The vendor id is the one
    recorded when the vendor accepted the message (the endpoint refuses receipts naming another),
    so it is never written from a receipt.
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
            computed = {"settled_at": per_row(ids, [r.occurred_at for r in chunk])}
            ops.append(UpdateMany({"campaign_id": campaign_id, "customer_id": {"$in": ids}},
                                  forward_only([PENDING, SENT], {"error": reason, "accepted": True,
                                                                 "updated_at": stamp, "status": status}, computed)))
    if ops:
        db.communication_log.bulk_write(ops, ordered=False)
    return [None] * len(receipts)


class Refusal(BaseModel):
    """A receipt of a request that was not taken, and why."""

    index: int | None = Field(description="its place in the array (null for a single receipt)")
    idempotency_key: str
    field: str
    reason: str
    retry: bool = Field(description="true when sending it again later may succeed")


NO_SUCH_MESSAGE = "no message of ours has this idempotency key"
NOT_RECORDED = ("the vendor's acceptance of this message is not recorded yet (the receipt came first); "
                "send it again later")
MISMATCH = "this is not the vendor message id the vendor gave when it accepted this message"


def check_known(db: Database, receipts: Sequence[Receipt], batch: bool) -> tuple[list[Receipt], list[Refusal]]:
    """(receipts about messages we sent with that vendor id, refusals of the others).

    One indexed read per campaign and chunk of customers, on the unique (campaign, customer) key.
    """
    wanted: dict[str, set[str]] = {}
    for r in receipts:
        wanted.setdefault(r.campaign_id, set()).add(r.customer_id)
    recorded: dict[tuple[str, str], str | None] = {}
    for campaign_id, customers in wanted.items():
        for chunk in chunks(sorted(customers)):
            for row in db.communication_log.find({"campaign_id": campaign_id, "customer_id": {"$in": chunk}},
                                                 {"_id": 0, "customer_id": 1, "vendor_message_id": 1}):
                recorded[(campaign_id, row["customer_id"])] = row.get("vendor_message_id")
    good, refused = [], []
    for index, r in enumerate(receipts):
        key = (r.campaign_id, r.customer_id)
        where = index if batch else None
        if key not in recorded:
            refused.append(Refusal(index=where, idempotency_key=r.idempotency_key, field="idempotency_key",
                                   reason=NO_SUCH_MESSAGE, retry=False))
        elif recorded[key] is None:
            refused.append(Refusal(index=where, idempotency_key=r.idempotency_key, field="vendor_message_id",
                                   reason=NOT_RECORDED, retry=True))
        elif recorded[key] != r.vendor_message_id:
            refused.append(Refusal(index=where, idempotency_key=r.idempotency_key, field="vendor_message_id",
                                   reason=MISMATCH, retry=False))
        else:
            good.append(r)
    return good, refused


def all_refused(refused: list[Refusal]) -> ApiError:
    """The 409 of a request none of whose receipts is about a message we sent with that id."""
    retry = all(r.retry for r in refused)
    message = ("no receipt of this request is about a message we sent to the vendor with that id"
               if len(refused) > 1 else f"the receipt was refused: {refused[0].reason}")
    details = [ErrorDetail(index=r.index, field=r.field, reason=f"{r.idempotency_key}: {r.reason}")
               for r in refused]
    return ApiError(409, "unknown_message", message, details,
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)} if retry else None)


RETRY_AFTER_SECONDS = 1
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

    def journaled(db: Database, keys: list[str]) -> list[Receipt]:
        from crm.campaigns.receipt_journal import journaled_receipts

        return journaled_receipts(db, keys)

    router = APIRouter(tags=["delivery receipts"], lifespan=lifespan)

    @router.post(PATH, status_code=202, summary="Delivery receipt from the messaging vendor",
                 openapi_extra=_OPENAPI,
                 responses={401: error("missing, malformed, stale or wrong signature", "unauthorized",
                                       "the signature timestamp is 360 s old, 60 s more than the 300 s "
                                       "allowed: sign each request when it is sent",
                                       [{"index": None, "field": HEADER, "reason": f"expected {FORMAT}"}]),
                            409: error("no receipt of the request is about a message we sent to the vendor "
                                       "with that vendor message id; nothing was stored", "unknown_message",
                                       f"the receipt was refused: {MISMATCH}",
                                       [{"index": None, "field": "vendor_message_id",
                                         "reason": f"665f1c2e9b1d4a0012345678:C-1001: {MISMATCH}"}]),
                            503: error("the receipt could not be stored; send it again", "unavailable",
                                       "the database stopped answering"),
                            422: error("not a receipt", "invalid_receipt", "the receipt is not valid",
                                       [{"index": None, "field": "status", "reason": "Input should be 'DELIVERED'"}])})
    async def delivery_receipt(request: Request) -> dict:
        """Signed with the shared secret: `X-Signature: t=<unix seconds>,v1=<hex>`, the hex being
        the HMAC-SHA256 of `<t>.<raw body>`. Refused once the timestamp is more than 5 minutes old
        or ahead (`CRM_SIGNATURE_TOLERANCE_SECONDS`), so a captured receipt cannot be replayed.

        The body is one receipt or an array of up to 1,000. Idempotent: a repeated receipt is
        accepted and changes nothing. Only receipts about messages we sent to the vendor, naming
        the vendor message id it gave us, are taken: a batch stores those and lists the others
        under `refused`; a request with none is a 409 `unknown_message` (with `Retry-After`
        when they may succeed later), and nothing of a refused receipt is stored.
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
            receipts, refused = await run_in_threadpool(check_known, database(), receipts, body.lstrip()[:1] == b"[")
            if not receipts:
                raise all_refused(refused)
            if writer is None:  # one update per receipt (the baseline the benchmark compares with)
                await run_in_threadpool(database().communication_log.bulk_write,
                                        [receipt_update(r) for r in receipts])
            else:  # stored in the journal (acknowledged), then applied to the log in the background
                fresh = await writer.submit_many(receipts)
                state["applier"].add([r for r, new in zip(receipts, fresh) if new])
                seen = [r.idempotency_key for r, new in zip(receipts, fresh) if not new]
                if seen:  # journaled before, maybe never applied (a crash in between): apply the first
                    state["applier"].add(await run_in_threadpool(journaled, database(), seen))
        except PyMongoError as exc:
            raise ApiError(503, "unavailable", f"the receipt was not stored ({type(exc).__name__}); "
                                               "send it again") from None
        answer = {"accepted": True, "receipts": len(receipts)}
        if refused:
            answer["refused"] = [r.model_dump() for r in refused]
        return answer

    return router
