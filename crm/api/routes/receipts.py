"""POST /api/v1/delivery-receipts: the HTTP edge of receipt delivery (`crm.campaigns.receipts`).

Verifies the timestamped signature, reads one receipt or an array, answers 401, 409, 422 or 503
in the API's error shape, and hands the receipts to the core: checked against what we sent, then
journaled by a group-committed writer and applied in the background.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import TypeAdapter, ValidationError
from pymongo.errors import PyMongoError

from crm.api.errors import ApiError, ErrorDetail
from crm.api.routes.common import error
from crm.api.signed import check_signature
from crm.campaigns.batching import GroupCommit
from crm.campaigns.receipt_journal import (
    Applier,
    apply_journal,
    journaled_receipts,
    store_receipts,
    unsettled_campaigns,
)
from crm.campaigns.receipts import (
    MAX_RECEIPTS_PER_REQUEST,
    MISMATCH,
    PATH,
    Receipt,
    Refusal,
    check_known,
)
from crm.campaigns.signing import FORMAT, HEADER, openapi_declaration, receipt_secrets, sign
from crm.config import Settings
from crm.store import get_db
from crm.store.documents import Database

_ONE_OR_MANY = TypeAdapter(Receipt | list[Receipt])


def parse_receipts(body: bytes) -> list[Receipt]:
    """One receipt or an array of them; else a 422 naming each bad item and field."""
    try:
        parsed = _ONE_OR_MANY.validate_json(body)
    except ValidationError as exc:
        raise ApiError(422, "invalid_receipt", "the receipt is not valid", _details(exc)) from None
    receipts = parsed if isinstance(parsed, list) else [parsed]
    if not 1 <= len(receipts) <= MAX_RECEIPTS_PER_REQUEST:
        raise ApiError(
            422,
            "invalid_receipt",
            f"send 1 to {MAX_RECEIPTS_PER_REQUEST} receipts per request",
            [ErrorDetail(field="body", reason=f"{len(receipts)} receipts")],
        )
    return receipts


def _details(exc: ValidationError) -> list[ErrorDetail]:
    """Errors of the single-object reading when the body is an object, else of the array's items."""
    errors = exc.errors()
    as_list = [e for e in errors if e["loc"] and e["loc"][0] == "list[Receipt]"]
    chosen = (
        as_list
        if as_list and any(len(e["loc"]) > 1 for e in as_list)
        else [e for e in errors if e["loc"] and e["loc"][0] == "Receipt"] or errors
    )
    details = []
    for e in chosen:
        loc = list(e["loc"][1:]) if e["loc"] and e["loc"][0] in ("Receipt", "list[Receipt]") else list(e["loc"])
        index = int(loc.pop(0)) if e["loc"][:1] == ("list[Receipt]",) and loc and isinstance(loc[0], int) else None
        details.append(ErrorDetail(index=index, field=".".join(str(p) for p in loc) or "body", reason=e["msg"]))
    return details


def all_refused(refused: list[Refusal]) -> ApiError:
    """The 409 of a request none of whose receipts is about a message we sent with that id."""
    retry = all(r.retry for r in refused)
    message = (
        "no receipt of this request is about a message we sent to the vendor with that id"
        if len(refused) > 1
        else f"the receipt was refused: {refused[0].reason}"
    )
    details = [ErrorDetail(index=r.index, field=r.field, reason=f"{r.idempotency_key}: {r.reason}") for r in refused]
    return ApiError(
        409, "unknown_message", message, details, headers={"Retry-After": str(RETRY_AFTER_SECONDS)} if retry else None
    )


RETRY_AFTER_SECONDS = 1
_EXAMPLE = {
    "idempotency_key": "665f1c2e9b1d4a0012345678:C-1001",
    "vendor_message_id": "v-1",
    "status": "DELIVERED",
    "reason": None,
    "occurred_at": "2025-06-01T10:00:00Z",
}
_OPENAPI = {
    **openapi_declaration(
        "receiptSecret",
        "CRM_RECEIPT_SECRET, or the data dir's receipt-secret file",
        sign(b"<receipt secret>", b"{}", 1748772000),
    ),
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        Receipt.model_json_schema(),
                        {
                            "type": "array",
                            "items": Receipt.model_json_schema(),
                            "minItems": 1,
                            "maxItems": MAX_RECEIPTS_PER_REQUEST,
                        },
                    ]
                },
                "example": _EXAMPLE,
            }
        },
    },
}


def receipts_router(settings: Settings) -> APIRouter:
    """The receipt endpoint with its own batch writer (started and flushed with the app)."""
    state: dict = {}

    def database() -> Database:
        return get_db(settings)

    @asynccontextmanager
    async def lifespan(app):
        state["secrets"] = receipt_secrets(settings)
        db = await asyncio.to_thread(database)
        state["writer"] = GroupCommit(
            lambda batch: store_receipts(db, batch), settings.receipt_flush_size, settings.receipt_flush_ms
        ).start()
        state["applier"] = Applier(db).start()
        # Receipts a stopped process stored but never applied (in the background: serve now).
        recovery = asyncio.get_running_loop().create_task(
            asyncio.to_thread(lambda: apply_journal(db, unsettled_campaigns(db)))
        )
        app.state.receipt_writer = state["writer"]
        try:
            yield
        finally:
            await state["writer"].close()  # flushed on shutdown: nothing queued is dropped
            await state["applier"].close()
            await asyncio.gather(recovery, return_exceptions=True)

    router = APIRouter(tags=["delivery receipts"], lifespan=lifespan)

    @router.post(
        PATH,
        status_code=202,
        summary="Delivery receipt from the messaging vendor",
        openapi_extra=_OPENAPI,
        responses={
            401: error(
                "missing, malformed, stale or wrong signature",
                "unauthorized",
                "the signature timestamp is 360 s old, 60 s more than the 300 s "
                "allowed: sign each request when it is sent",
                [{"index": None, "field": HEADER, "reason": f"expected {FORMAT}"}],
            ),
            409: error(
                "no receipt of the request is about a message we sent to the vendor "
                "with that vendor message id; nothing was stored",
                "unknown_message",
                f"the receipt was refused: {MISMATCH}",
                [
                    {
                        "index": None,
                        "field": "vendor_message_id",
                        "reason": f"665f1c2e9b1d4a0012345678:C-1001: {MISMATCH}",
                    }
                ],
            ),
            503: error(
                "the receipt could not be stored; send it again", "unavailable", "the database stopped answering"
            ),
            422: error(
                "not a receipt",
                "invalid_receipt",
                "the receipt is not valid",
                [{"index": None, "field": "status", "reason": "Input should be 'DELIVERED'"}],
            ),
        },
    )
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
        check_signature(state["secrets"], body, request.headers.get(HEADER), settings.signature_tolerance_seconds)
        receipts = parse_receipts(body)
        try:
            receipts, refused = await run_in_threadpool(check_known, database(), receipts, body.lstrip()[:1] == b"[")
            if not receipts:
                raise all_refused(refused)
            # Stored in the journal (acknowledged), then applied to the log in the background.
            fresh = await state["writer"].submit_many(receipts)
            state["applier"].add([r for r, new in zip(receipts, fresh) if new])
            seen = [r.idempotency_key for r, new in zip(receipts, fresh) if not new]
            if seen:  # journaled before, maybe never applied (a crash in between): apply the first
                state["applier"].add(await run_in_threadpool(journaled_receipts, database(), seen))
        except PyMongoError as exc:
            raise ApiError(
                503, "unavailable", f"the receipt was not stored ({type(exc).__name__}); send it again"
            ) from None
        answer: dict[str, Any] = {"accepted": True, "receipts": len(receipts)}
        if refused:
            answer["refused"] = [r.model_dump() for r in refused]
        return answer

    return router
