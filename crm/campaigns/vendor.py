"""The mock messaging vendor under /vendor/v1/: accepts messages, later reports their fate.

It behaves as real messaging APIs do. Every message carries an `Idempotency-Key`; the vendor
stores each key in MongoDB (`vendor_messages`, so it survives restarts) before answering, and a
message sent again with a known key is recognised (same vendor id, `duplicate: true`) and never
delivered twice. After a short random delay it posts a signed receipt to its webhook, our
`/api/v1/delivery-receipts`: DELIVERED about 90% of the time, FAILED with a reason otherwise.
Receipts are scheduled in memory and posted in batches of whatever is due (one signed JSON array
per request), at least once: a receipt counts as posted only when the receiver acknowledged it
(2xx). Each poster checkpoints how far it got, and any receipts a stopped or dead poster still
owed are posted by whichever process hosts the vendor next. A sweep backs this up: receipts of
messages whose log row is still SENT a while (CRM_RECEIPT_SWEEP_SECONDS) after they were due are
posted again, whatever became of the first post.
`CRM_VENDOR_FAULT_RATE` makes it answer 503 to a share of requests, to exercise retries.

Like a real vendor it takes messages only from a sender holding its key (`Authorization: Bearer
<vendor key>`: CRM_VENDOR_KEY, or one generated once per data dir, which the dispatcher sends);
anything else is a 401 and nothing is stored. Receipts go only to the receipt endpoint it was
configured with: the hosting process's address (`app.state.public_url`), else CRM_RECEIPT_URL,
else the address of the socket the API listens on. Never to one named by a request's headers
(`Host`, `X-Forwarded-*`), which would let any caller redirect every later receipt.
"""

from __future__ import annotations

import asyncio
import heapq
import hmac
import itertools
import json
import logging
import os
import random
import time
import uuid
from collections.abc import Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, timedelta
from typing import Literal

import httpx
from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from pymongo.database import Database
from pymongo.errors import BulkWriteError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from crm.api.errors import ApiError, ErrorDetail
from crm.api.routes.common import error
from crm.campaigns.batching import GroupCommit
from crm.campaigns.model import SENT
from crm.campaigns.receipts import PATH as RECEIPT_PATH, chunks
from crm.campaigns.repository import now
from crm.campaigns.signing import HEADER, receipt_secrets, sign
from crm.config import Settings
from crm.data_dir_secret import data_dir_secret

PREFIX = "/vendor/v1"
COLLECTION = "vendor_messages"
FAILURE_REASONS = ("number not reachable", "registered on do-not-disturb", "blocked by the carrier",
                   "mailbox full", "invalid address", "handset switched off")
POST_CONCURRENCY = 4  # batches in flight; a busy httpx pool costs O(connections x waiting requests)
MAX_BATCH = 1_000  # messages in one batch send
POST_BATCH = 500
RETRY_LATER_SECONDS = 5.0  # the receiver unreachable or failing: try again (for as long as it takes)
REFUSED_RETRY_SECONDS = 0.5  # refused for now (our send not recorded yet): soon, then less and less often
MAX_REFUSALS = 8  # then given up (about a minute): the sweep posts it again once its row is SENT
SWEEP_ROWS = 5_000  # per campaign and sweep
POSTERS = "vendor_posters"  # receipts per webhook call, like vendors' batched event webhooks
SWEEP_SECONDS = 2.0
MIN_DELAY_SECONDS = 0.05
KEY_FILE = "vendor-key"
AUTHORIZATION = "Authorization"
SWEEP_VARIABLE = "CRM_RECEIPT_SWEEP_SECONDS"
log = logging.getLogger("crm.campaigns")

# auto_error=False: a missing key is our JSON 401, not FastAPI's 403.
bearer = HTTPBearer(auto_error=False, scheme_name="VendorKey",
                    description="the vendor's key: CRM_VENDOR_KEY, or the data dir's `vendor-key` file")
UNAUTHORIZED = error("missing or wrong vendor key", "unauthorized",
                     "send the vendor key as 'Authorization: Bearer <vendor key>'",
                     [{"field": AUTHORIZATION, "reason": "missing"}])


def sweep_grace(settings: Settings) -> float:
    """How long after its receipt was due a message still SENT has its receipt posted again.

    CRM_RECEIPT_SWEEP_SECONDS; by default 30 s, or three times the longest vendor delay.
    """
    configured = os.environ.get(SWEEP_VARIABLE, "").strip()
    if configured:
        try:
            return max(0.1, float(configured))
        except ValueError:
            log.warning("%s=%r is not a number of seconds; using the default", SWEEP_VARIABLE, configured)
    return max(30.0, 3 * settings.vendor_delay_ms / 1000)


def vendor_key(settings: Settings) -> str:
    """The key the vendor asks of senders: CRM_VENDOR_KEY, or the one generated for the data dir."""
    return settings.vendor_key or data_dir_secret(settings.data_dir, KEY_FILE)


class VendorMessage(BaseModel):
    channel: Literal["sms", "email", "whatsapp"]
    to: str = Field(min_length=1, max_length=320)
    body: str = Field(min_length=1, max_length=5_000)


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
    id: str | None = Field(None, description="the vendor's message id, when accepted")
    duplicate: bool = False


class BatchAccepted(BaseModel):
    results: list[ItemResult] = Field(description="one per message, in the order sent")


class ReceiptPoster:
    """Posts receipts when due, with bounded concurrency and retries, and checkpoints its progress.

    Marking each receipt posted was a third of the database's work per message. Instead every
    vendor record names the poster that accepted it, and the poster keeps one document
    (`vendor_posters`) saying that everything it accepted that was due before `posted_through`
    has been acknowledged by the receiver, with a heartbeat. The checkpoint never passes a
    receipt still owed, nor one being stored (`storing`: its record is not written yet, but its
    due time is already fixed). A poster whose heartbeat stopped (its process died or stopped
    with receipts in flight) is taken over by a live one, which posts again what that poster had
    accepted due from its checkpoint on: a receipt may arrive twice, which the endpoint counts
    once, and none is lost.

    A receipt the receiver refuses for now (it does not yet know our send) is posted again after
    a growing wait, up to MAX_REFUSALS times; one refused for good is dropped. Both leave the
    sweep (`_unsettled`) to post it again should its message be recorded SENT later.
    """

    def __init__(self, settings: Settings, db: Database):
        self.settings, self.db = settings, db
        self.id = uuid.uuid4().hex
        self.secret = receipt_secrets(settings).current
        self.webhook: str | None = None  # our receipt endpoint, learned from the app's own address
        self._due: list[tuple[float, str, dict]] = []  # heap of (monotonic due time, key, receipt)
        self._outstanding: dict[str, datetime] = {}  # key -> when its receipt is due (UTC)
        self._storing: dict[int, datetime] = {}  # records being stored -> when they were made (UTC)
        self._tokens = itertools.count()
        self._refusals: dict[str, int] = {}  # key -> times the receiver refused it for now
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(POST_CONCURRENCY)
        self._tasks: set[asyncio.Task] = set()
        self._client = httpx.AsyncClient(timeout=30)
        self._loops: list[asyncio.Task] = []
        self.posted_count = 0
        self.grace = timedelta(seconds=sweep_grace(settings))
        self.swept = 0  # receipts the sweep posted again

    @property
    def outstanding(self) -> int:
        """Receipts scheduled here and not yet posted."""
        return len(self._outstanding)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._loops = [loop.create_task(self._deliver_due()), loop.create_task(self._checkpoint_and_sweep())]

    async def stop(self) -> None:
        # Receipts still in flight are left to the next host: the checkpoint written first still
        # counts them as owed, and this poster's heartbeat stops. Waiting for their retries would
        # hold up shutdown while the receipt endpoint is gone.
        await asyncio.to_thread(self._checkpoint, self._owed_since())
        for task in [*self._loops, *self._tasks]:
            task.cancel()
        await asyncio.gather(*self._loops, *self._tasks, return_exceptions=True)
        await self._client.aclose()

    @contextmanager
    def storing(self):
        """Around making and storing new records: the checkpoint waits for them meanwhile."""
        token = next(self._tokens)
        self._storing[token] = now()
        try:
            yield
        finally:
            del self._storing[token]

    def schedule(self, key: str, receipt: dict, delay: float, due_at: datetime | None = None) -> None:
        if key in self._outstanding:
            return
        self._outstanding[key] = due_at or now() + timedelta(seconds=delay)
        heapq.heappush(self._due, (time.monotonic() + delay, key, receipt))
        self._wake.set()

    async def _deliver_due(self) -> None:
        while True:
            if not self._due or self.webhook is None:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), 0.5)
                except TimeoutError:
                    pass
                continue
            wait = self._due[0][0] - time.monotonic()
            if wait > 0:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), wait)
                except TimeoutError:
                    pass
                continue
            due = []
            while self._due and self._due[0][0] <= time.monotonic() and len(due) < POST_BATCH:
                _, key, receipt = heapq.heappop(self._due)
                due.append((key, receipt))
            await self._slots.acquire()
            task = asyncio.get_running_loop().create_task(self._post(due))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _post(self, due: list[tuple[str, dict]]) -> None:
        try:
            await self._post_group(due)
        finally:
            self._slots.release()

    async def _post_group(self, due: list[tuple[str, dict]]) -> None:
        try:
            response = await self._send([receipt for _, receipt in due])
        except httpx.HTTPError:
            for key, receipt in due:  # still owed: try again later (the checkpoint waits for them)
                heapq.heappush(self._due, (time.monotonic() + RETRY_LATER_SECONDS, key, receipt))
            return
        if response.is_success:
            refused = _refused(response, len(due))
            self._acknowledged([item for i, item in enumerate(due) if i not in refused])
            for i, retry in refused.items():
                self._refused(*due[i], retry)
        elif response.status_code == 409:  # none is about a message the receiver knows
            for key, receipt in due:
                self._refused(key, receipt, "Retry-After" in response.headers)
        elif len(due) > 1:  # one bad receipt refuses the batch: the others go alone
            for item in due:
                await self._post_group([item])
        else:  # refused (signature, format): not acknowledged, so tried again for a while
            log.warning("the receipt endpoint refused %s (%d): %s", due[0][0], response.status_code,
                        response.text[:200])
            self._refused(*due[0], True)

    def _acknowledged(self, items: list[tuple[str, dict]]) -> None:
        self.posted_count += len(items)
        for key, _ in items:
            self._outstanding.pop(key, None)
            self._refusals.pop(key, None)

    def _refused(self, key: str, receipt: dict, retry: bool) -> None:
        tries = self._refusals[key] = self._refusals.get(key, 0) + 1
        if retry and tries <= MAX_REFUSALS:
            wait = min(30.0, REFUSED_RETRY_SECONDS * 2 ** (tries - 1))
            heapq.heappush(self._due, (time.monotonic() + wait, key, receipt))
            return
        log.info("receipt %s refused by the receiver (%d time(s)); left to the sweep", key, tries)
        self._outstanding.pop(key, None)
        self._refusals.pop(key, None)

    async def _send(self, receipts: list[dict]) -> httpx.Response:
        body = json.dumps(receipts[0] if len(receipts) == 1 else receipts, separators=(",", ":")).encode("utf-8")
        async for attempt in AsyncRetrying(stop=stop_after_attempt(6), reraise=True,
                                           wait=wait_exponential_jitter(initial=0.2, max=5),
                                           retry=retry_if_exception_type(httpx.HTTPError)):
            with attempt:  # signed at each try: the receiver refuses an old timestamp
                headers = {HEADER: sign(self.secret, body), "Content-Type": "application/json"}
                response = await self._client.post(self.webhook, content=body, headers=headers)
                if response.status_code >= 500 or response.status_code == 429:
                    response.raise_for_status()
        return response

    async def _checkpoint_and_sweep(self) -> None:
        grace = timedelta(seconds=5 + 3 * self.settings.vendor_delay_ms / 1000)
        ticks, swept_at = 0, time.monotonic()
        while True:
            if self.webhook is not None and ticks % 4 == 0:
                for doc in await asyncio.to_thread(self._take_over, grace):
                    self.schedule(doc["_id"], doc["receipt"], 0, doc["receipt_due_at"])
            await asyncio.to_thread(self._checkpoint, self._owed_since())  # after scheduling what we took over
            if self.webhook is not None and time.monotonic() - swept_at >= self.grace.total_seconds() / 2:
                swept_at = time.monotonic()
                for doc in await asyncio.to_thread(self._unsettled):
                    if doc["_id"] not in self._outstanding:
                        self.swept += 1
                        self.schedule(doc["_id"], doc["receipt"], 0, doc["receipt_due_at"])
            ticks += 1
            await asyncio.sleep(min(SWEEP_SECONDS, self.grace.total_seconds()) / 4)

    def _owed_since(self) -> datetime:
        """Due time of the oldest receipt still owed or being stored (now if none); read in the
        event loop's thread."""
        return min([*self._outstanding.values(), *self._storing.values()], default=now())

    def _unsettled(self) -> list[dict]:
        """Our records of messages still SENT on the log a grace period after their receipt was due.

        Read only: the receipt endpoint decides what a receipt changes.
        """
        from crm.campaigns.receipt_journal import unsettled_campaigns

        cutoff = now() - self.grace
        found: list[dict] = []
        for campaign_id in unsettled_campaigns(self.db):
            rows = self.db.communication_log.find({"campaign_id": campaign_id, "status": SENT,
                                                   "sent_at": {"$lt": cutoff}}, {"_id": 0, "customer_id": 1})
            keys = [f"{campaign_id}:{row['customer_id']}" for row in rows.limit(SWEEP_ROWS)]
            for chunk in chunks(keys):
                found += self.db[COLLECTION].find({"_id": {"$in": chunk}, "receipt_due_at": {"$lt": cutoff}},
                                                  {"receipt": 1, "receipt_due_at": 1})
        return found

    def _checkpoint(self, through: datetime) -> None:
        stamp = now()
        self.db[POSTERS].update_one({"_id": self.id}, {"$set": {"posted_through": min(through, stamp),
                                                               "heartbeat": stamp}}, upsert=True)

    def _take_over(self, grace: timedelta) -> list[dict]:
        """Receipts owed by posters whose heartbeat stopped, now owed by this one."""
        owed = []
        stale = {"heartbeat": {"$lt": now() - grace}, "taken_over_by": None, "_id": {"$ne": self.id}}
        while (dead := self.db[POSTERS].find_one_and_update(stale, {"$set": {"taken_over_by": self.id}})) is not None:
            query = {"poster": dead["_id"], "receipt_due_at": {"$gte": dead["posted_through"]}}
            docs = list(self.db[COLLECTION].find(query, {"receipt": 1, "receipt_due_at": 1}))
            if docs:  # ours if we die too: first say we owe them, then take them
                self.db[POSTERS].update_one({"_id": self.id}, {"$min": {"posted_through": dead["posted_through"]}},
                                            upsert=True)
                self.db[COLLECTION].update_many(query, {"$set": {"poster": self.id}})
            owed += docs
        return owed


def _refused(response: httpx.Response, sent: int) -> dict[int, bool]:
    """Of an acknowledged post, the receipts the receiver did not take: index -> worth retrying."""
    try:
        refused = response.json().get("refused") or []
        return {(r["index"] if r["index"] is not None else 0): bool(r["retry"]) for r in refused
                if r["index"] is None or 0 <= r["index"] < sent}
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}


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
            raise ApiError(401, "unauthorized", "send the vendor key as 'Authorization: Bearer <vendor key>'",
                           [ErrorDetail(field=AUTHORIZATION, reason="missing")],
                           headers={"WWW-Authenticate": 'Bearer realm="vendor"'})
        if not hmac.compare_digest(credentials.credentials.encode("utf-8"), state["key"]):
            raise ApiError(401, "unauthorized", "the vendor key is not valid",
                           [ErrorDetail(field=AUTHORIZATION, reason="not the vendor's key")],
                           headers={"WWW-Authenticate": 'Bearer realm="vendor", error="invalid_token"'})

    router = APIRouter(prefix=PREFIX, tags=["mock vendor"], lifespan=lifespan,
                       dependencies=[Depends(require_vendor_key)], responses={401: UNAUTHORIZED})

    @router.post("/messages", status_code=201, response_model=Accepted, summary="Send one message (mock vendor)",
                 responses={200: {"model": Accepted, "description": "this idempotency key was seen before: "
                                                                    "the original message's id, nothing sent again"},
                            400: error("the body is not JSON", "bad_request", "There was an error parsing the body"),
                            503: error("the vendor is busy (CRM_VENDOR_FAULT_RATE); retry", "vendor_busy",
                                       "the vendor is overloaded; retry later")})
    async def send_message(message: VendorMessage, request: Request, response: Response,
                           idempotency_key: str = Header(min_length=3, max_length=400)) -> Accepted:
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
        seen = await asyncio.to_thread(database()[COLLECTION].find_one_and_update, {"_id": idempotency_key},
                                       {"$inc": {"submissions": 1}})
        response.status_code = 200
        return Accepted(id=seen["vendor_message_id"], duplicate=True)

    @router.post("/messages/batch", response_model=BatchAccepted, summary="Send many messages (mock vendor)",
                 responses={400: error("the body is not JSON", "bad_request", "There was an error parsing the body")})
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
                    results[record["_id"]] = ItemResult(idempotency_key=record["_id"], status="accepted",
                                                        id=record["vendor_message_id"])
        seen = [r["_id"] for r, new in zip(records, fresh) if not new]
        if seen:
            for doc in await asyncio.to_thread(_count_again, database(), seen):
                results[doc["_id"]] = ItemResult(idempotency_key=doc["_id"], status="accepted",
                                                 id=doc["vendor_message_id"], duplicate=True)
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
    accepted = now()
    failed = random.random() < settings.vendor_failure_rate
    receipt = {"idempotency_key": key, "vendor_message_id": vendor_id,
               "status": "FAILED" if failed else "DELIVERED",
               "reason": random.choice(FAILURE_REASONS) if failed else None,
               "occurred_at": (accepted + timedelta(seconds=delay)).isoformat()}
    return {"_id": key, "vendor_message_id": vendor_id, "channel": message.channel, "to": message.to,
            "body": message.body, "submissions": 1, "accepted_at": accepted, "delay": delay,
            "receipt": receipt, "receipt_due_at": accepted + timedelta(seconds=delay), "poster": poster}
