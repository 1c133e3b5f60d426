"""The mock vendor's receipt poster: posts each accepted message's signed receipt when it is
due, at least once, checkpointed in MongoDB so another process takes over what a stopped one owed.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import logging
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from crm.campaigns.model import SENT
from crm.campaigns.receipts import chunks
from crm.campaigns.signing import HEADER, receipt_secrets, sign
from crm.campaigns.vendor_access import MOCK_VENDOR_MESSAGES as COLLECTION
from crm.config import Settings
from crm.store.clock import utc_now
from crm.store.documents import Database

log = logging.getLogger("crm.mock_vendor")
POST_CONCURRENCY = 4  # batches in flight; a busy httpx pool costs O(connections x waiting requests)
POST_BATCH = 500
RETRY_LATER_SECONDS = 5.0  # the receiver unreachable or failing: try again (for as long as it takes)
REFUSED_RETRY_SECONDS = 0.5  # refused for now (our send not recorded yet): soon, then less and less often
MAX_REFUSALS = 8  # then given up (about a minute): the sweep posts it again once its row is SENT
SWEEP_ROWS = 5_000  # per campaign and sweep
POSTERS = "vendor_posters"  # receipts per webhook call, like vendors' batched event webhooks
SWEEP_SECONDS = 2.0


def sweep_grace(settings: Settings) -> float:
    """How long after its receipt was due a message still SENT has its receipt posted again.

    CRM_RECEIPT_SWEEP_SECONDS; by default 30 s, or three times the longest vendor delay.
    """
    if settings.receipt_sweep_seconds is not None:
        return settings.receipt_sweep_seconds
    return max(30.0, 3 * settings.vendor_delay_ms / 1000)


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
        self._storing[token] = utc_now()
        try:
            yield
        finally:
            del self._storing[token]

    def schedule(self, key: str, receipt: dict, delay: float, due_at: datetime | None = None) -> None:
        if key in self._outstanding:
            return
        self._outstanding[key] = due_at or utc_now() + timedelta(seconds=delay)
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
            due: list[tuple[str, dict]] = []
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
            log.warning(
                "the receipt endpoint refused %s (%d): %s", due[0][0], response.status_code, response.text[:200]
            )
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
        assert self.webhook is not None  # posting starts once the receiver is known
        body = json.dumps(receipts[0] if len(receipts) == 1 else receipts, separators=(",", ":")).encode("utf-8")
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(6),
            reraise=True,
            wait=wait_exponential_jitter(initial=0.2, max=5),
            retry=retry_if_exception_type(httpx.HTTPError),
        ):
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
        return min([*self._outstanding.values(), *self._storing.values()], default=utc_now())

    def _unsettled(self) -> list[dict]:
        """Our records of messages still SENT on the log a grace period after their receipt was due.

        Read only: the receipt endpoint decides what a receipt changes.
        """
        from crm.campaigns.receipt_journal import unsettled_campaigns

        cutoff = utc_now() - self.grace
        found: list[dict] = []
        for campaign_id in unsettled_campaigns(self.db):
            rows = self.db.communication_log.find(
                {"campaign_id": campaign_id, "status": SENT, "sent_at": {"$lt": cutoff}}, {"_id": 0, "customer_id": 1}
            )
            keys = [f"{campaign_id}:{row['customer_id']}" for row in rows.limit(SWEEP_ROWS)]
            for chunk in chunks(keys):
                found += self.db[COLLECTION].find(
                    {"_id": {"$in": chunk}, "receipt_due_at": {"$lt": cutoff}}, {"receipt": 1, "receipt_due_at": 1}
                )
        return found

    def _checkpoint(self, through: datetime) -> None:
        stamp = utc_now()
        self.db[POSTERS].update_one(
            {"_id": self.id}, {"$set": {"posted_through": min(through, stamp), "heartbeat": stamp}}, upsert=True
        )

    def _take_over(self, grace: timedelta) -> list[dict]:
        """Receipts owed by posters whose heartbeat stopped, now owed by this one."""
        owed = []
        stale = {"heartbeat": {"$lt": utc_now() - grace}, "taken_over_by": None, "_id": {"$ne": self.id}}
        while (dead := self.db[POSTERS].find_one_and_update(stale, {"$set": {"taken_over_by": self.id}})) is not None:
            query = {"poster": dead["_id"], "receipt_due_at": {"$gte": dead["posted_through"]}}
            docs = list(self.db[COLLECTION].find(query, {"receipt": 1, "receipt_due_at": 1}))
            if docs:  # ours if we die too: first say we owe them, then take them
                self.db[POSTERS].update_one(
                    {"_id": self.id}, {"$min": {"posted_through": dead["posted_through"]}}, upsert=True
                )
                self.db[COLLECTION].update_many(query, {"$set": {"poster": self.id}})
            owed += docs
        return owed


def _refused(response: httpx.Response, sent: int) -> dict[int, bool]:
    """Of an acknowledged post, the receipts the receiver did not take: index -> worth retrying."""
    try:
        refused = response.json().get("refused") or []
        return {
            (r["index"] if r["index"] is not None else 0): bool(r["retry"])
            for r in refused
            if r["index"] is None or 0 <= r["index"] < sent
        }
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}
