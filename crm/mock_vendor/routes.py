"""The mock vendor's HTTP API: single and batch sends, idempotent by key, behind its bearer key."""

from __future__ import annotations

import asyncio
import hmac
import random
import uuid
from collections.abc import Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Literal

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from pymongo.errors import BulkWriteError

from crm.api.errors import ApiError, ErrorDetail
from crm.api.routes.common import error
from crm.campaigns.batching import GroupCommit
from crm.campaigns.receipts import PATH as RECEIPT_PATH
from crm.campaigns.vendor_access import MOCK_PREFIX as PREFIX
from crm.campaigns.vendor_access import MOCK_VENDOR_MESSAGES as COLLECTION
from crm.campaigns.vendor_access import vendor_key
from crm.config import Settings
from crm.mock_vendor.poster import ReceiptPoster
from crm.store.clock import utc_now
from crm.store.documents import Database

FAILURE_REASONS = (
    "number not reachable",
    "registered on do-not-disturb",
    "blocked by the carrier",
    "mailbox full",
    "invalid address",
    "handset switched off",
)
MAX_BATCH = 1_000  # messages in one batch send
MIN_DELAY_SECONDS = 0.05
AUTHORIZATION = "Authorization"

# auto_error=False: a missing key is our JSON 401, not FastAPI's 403.
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="VendorKey",
    description="the vendor's key: CRM_VENDOR_KEY, or the data dir's `vendor-key` file",
)
UNAUTHORIZED = error(
    "missing or wrong vendor key",
    "unauthorized",
    "send the vendor key as 'Authorization: Bearer <vendor key>'",
    [{"field": AUTHORIZATION, "reason": "missing"}],
)


class VendorMessage(BaseModel):
    channel: Literal["sms", "email", "whatsapp"]
    to: str = Field(min_length=1, max_length=320)
    body: str = Field(min_length=1, max_length=5_000)
    # Email headers the sender wants on the message (List-Unsubscribe, as real vendors take them).
    headers: dict[str, str] = Field(default_factory=dict, max_length=20)
    # SMS in India: the DLT template id and the registered sender header.
    dlt_template_id: str | None = Field(default=None, max_length=25)
    sender: str | None = Field(default=None, max_length=11)


class Accepted(BaseModel):
    id: str = Field(description="the vendor's message id")
    status: Literal["accepted"] = "accepted"
    duplicate: bool = Field(description="true when this idempotency key was seen before (nothing is sent again)")


class BatchItem(VendorMessage):
    idempotency_key: str = Field(min_length=3, max_length=400)


class MessageBatch(BaseModel):
    messages: list[BatchItem] = Field(min_length=1, max_length=MAX_BATCH)


class ItemResult(BaseModel):
    idempotency_key: str
    status: Literal["accepted", "busy"] = Field(description="busy: not taken (CRM_VENDOR_FAULT_RATE); send it again")
    id: str | None = Field(default=None, description="the vendor's message id, when accepted")
    duplicate: bool = False


class BatchAccepted(BaseModel):
    results: list[ItemResult] = Field(description="one per message, in the order sent")


def _insert_new(db: Database, docs: Sequence[dict]) -> list[bool]:
    """Insert vendor records; True for each that is new, False for a key seen before."""
    fresh = [True] * len(docs)
    try:
        db[COLLECTION].insert_many(list(docs), ordered=False)
    except BulkWriteError as exc:
        for err in exc.details.get("writeErrors", []):
            if err.get("code") != 11000:
                raise
            fresh[err["index"]] = False
    return fresh


def vendor_router(settings: Settings) -> APIRouter:
    """The mock vendor's routes, with their own receipt poster and batched key store."""
    state: dict = {}

    def database() -> Database:
        from crm.store import get_db

        return get_db(settings)

    @asynccontextmanager
    async def lifespan(app):
        state["key"] = (await asyncio.to_thread(vendor_key, settings)).encode("utf-8")
        poster = state["poster"] = ReceiptPoster(settings, await asyncio.to_thread(database))
        poster.webhook = _webhook(app, settings)
        poster.start()
        state["store"] = GroupCommit(lambda docs: _insert_new(database(), docs), 500, 5).start()
        app.state.vendor = poster
        try:
            yield
        finally:
            await state["store"].close()
            await poster.stop()

    async def require_vendor_key(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if credentials is None or not credentials.credentials:
            raise ApiError(
                401,
                "unauthorized",
                "send the vendor key as 'Authorization: Bearer <vendor key>'",
                [ErrorDetail(field=AUTHORIZATION, reason="missing")],
                headers={"WWW-Authenticate": 'Bearer realm="vendor"'},
            )
        if not hmac.compare_digest(credentials.credentials.encode("utf-8"), state["key"]):
            raise ApiError(
                401,
                "unauthorized",
                "the vendor key is not valid",
                [ErrorDetail(field=AUTHORIZATION, reason="not the vendor's key")],
                headers={"WWW-Authenticate": 'Bearer realm="vendor", error="invalid_token"'},
            )

    router = APIRouter(
        prefix=PREFIX,
        tags=["mock vendor"],
        lifespan=lifespan,
        dependencies=[Depends(require_vendor_key)],
        responses={401: UNAUTHORIZED},
    )

    @router.post(
        "/messages",
        status_code=201,
        response_model=Accepted,
        summary="Send one message (mock vendor)",
        responses={
            200: {
                "model": Accepted,
                "description": "this idempotency key was seen before: the original message's id, nothing sent again",
            },
            400: error("the body is not JSON", "bad_request", "There was an error parsing the body"),
            503: error(
                "the vendor is busy (CRM_VENDOR_FAULT_RATE); retry",
                "vendor_busy",
                "the vendor is overloaded; retry later",
            ),
        },
    )
    async def send_message(
        message: VendorMessage,
        request: Request,
        response: Response,
        idempotency_key: str = Header(min_length=3, max_length=400),
    ) -> Accepted:
        """Accepted messages get a receipt later; a repeated `Idempotency-Key` is recognised."""
        poster: ReceiptPoster = state["poster"]
        if poster.webhook is None:
            poster.webhook = _listening_webhook(request)
        if settings.vendor_fault_rate and random.random() < settings.vendor_fault_rate:
            raise ApiError(503, "vendor_busy", "the vendor is overloaded; retry later")
        with poster.storing():
            record = _new_record(settings, idempotency_key, message, poster.id)
            if await state["store"].submit(record):
                poster.schedule(idempotency_key, record["receipt"], record["delay"], record["receipt_due_at"])
                return Accepted(id=record["vendor_message_id"], duplicate=False)
        seen = await asyncio.to_thread(
            database()[COLLECTION].find_one_and_update, {"_id": idempotency_key}, {"$inc": {"submissions": 1}}
        )
        response.status_code = 200
        assert seen is not None  # the insert above failed on this key: the record exists
        return Accepted(id=seen["vendor_message_id"], duplicate=True)

    @router.post(
        "/messages/batch",
        response_model=BatchAccepted,
        summary="Send many messages (mock vendor)",
        responses={400: error("the body is not JSON", "bad_request", "There was an error parsing the body")},
    )
    async def send_batch(batch: MessageBatch, request: Request) -> BatchAccepted:
        """Each message carries its own idempotency key; each gets its own result.

        A key seen before is recognised (its original id, `duplicate: true`, nothing sent again).
        A message the vendor is too busy to take is `busy` and should be sent again.
        """
        poster: ReceiptPoster = state["poster"]
        if poster.webhook is None:
            poster.webhook = _listening_webhook(request)
        results: dict[str, ItemResult] = {}
        taken: dict[str, dict] = {}
        with poster.storing():
            for item in batch.messages:
                if item.idempotency_key in results or item.idempotency_key in taken:
                    continue  # the same key twice in one batch: one message
                if settings.vendor_fault_rate and random.random() < settings.vendor_fault_rate:
                    results[item.idempotency_key] = ItemResult(idempotency_key=item.idempotency_key, status="busy")
                else:
                    taken[item.idempotency_key] = _new_record(settings, item.idempotency_key, item, poster.id)
            records = list(taken.values())
            fresh = await state["store"].submit_many(records) if records else []
            for record, new in zip(records, fresh):
                if new:
                    poster.schedule(record["_id"], record["receipt"], record["delay"], record["receipt_due_at"])
                    results[record["_id"]] = ItemResult(
                        idempotency_key=record["_id"], status="accepted", id=record["vendor_message_id"]
                    )
        seen = [r["_id"] for r, new in zip(records, fresh) if not new]
        if seen:
            for doc in await asyncio.to_thread(_count_again, database(), seen):
                results[doc["_id"]] = ItemResult(
                    idempotency_key=doc["_id"], status="accepted", id=doc["vendor_message_id"], duplicate=True
                )
        return BatchAccepted(results=[results[item.idempotency_key] for item in batch.messages])

    return router


def _count_again(db: Database, keys: list[str]) -> list[dict]:
    """Keys sent before: count the new submission, return their original ids."""
    db[COLLECTION].update_many({"_id": {"$in": keys}}, {"$inc": {"submissions": 1}})
    return list(db[COLLECTION].find({"_id": {"$in": keys}}, {"vendor_message_id": 1}))


def _webhook(app, settings: Settings) -> str | None:
    """The receipt endpoint named by the hosting process, else by the settings."""
    public = getattr(app.state, "public_url", None)
    if public:
        return f"{public.rstrip('/')}{RECEIPT_PATH}"
    return settings.receipt_url


def _listening_webhook(request: Request) -> str | None:
    """Our receipt endpoint at the address of the socket this API listens on.

    The ASGI `server` entry is that socket's own address; the Host header and forwarding
    headers, which the caller writes, play no part.
    """
    server = request.scope.get("server")
    if not server or server[1] is None:
        return None
    host, port = server
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}{RECEIPT_PATH}"


def _new_record(settings: Settings, key: str, message: VendorMessage, poster: str) -> dict:
    vendor_id = uuid.uuid4().hex
    delay = random.uniform(MIN_DELAY_SECONDS, max(MIN_DELAY_SECONDS, settings.vendor_delay_ms / 1000))
    accepted = utc_now()
    failed = random.random() < settings.vendor_failure_rate
    receipt = {
        "idempotency_key": key,
        "vendor_message_id": vendor_id,
        "status": "FAILED" if failed else "DELIVERED",
        "reason": random.choice(FAILURE_REASONS) if failed else None,
        "occurred_at": (accepted + timedelta(seconds=delay)).isoformat(),
    }
    return {
        "_id": key,
        "vendor_message_id": vendor_id,
        "channel": message.channel,
        "to": message.to,
        "body": message.body,
        "headers": message.headers,
        "dlt_template_id": message.dlt_template_id,
        "sender": message.sender,
        "submissions": 1,
        "accepted_at": accepted,
        "delay": delay,
        "receipt": receipt,
        "receipt_due_at": accepted + timedelta(seconds=delay),
        "poster": poster,
    }
