"""Sending a campaign: claim it, snapshot its audience, hand each message to the vendor.

One asyncio loop hands messages to the vendor's batch endpoint (up to VENDOR_BATCH a request,
a few requests in flight, bounded by `CRM_CAMPAIGN_CONCURRENCY`), with an optional throttle
(`CRM_CAMPAIGN_RATE_PER_SECOND`, counted in messages) and retries with exponential backoff on
timeouts, connection errors, 429, 5xx and messages the vendor reports busy (tenacity,
`CRM_CAMPAIGN_MAX_ATTEMPTS` tries per message). One request per message cost more CPU in HTTP
handling (and in httpx's connection pool, which scans every connection for every request) than
everything else together. Each message carries the idempotency key
`<campaign_id>:<customer_id>`, so resending a row that was accepted just before a crash is
recognised by the vendor and delivered once. Every request carries the vendor's key
(`CRM_VENDOR_KEY`, or the data dir's generated one). A vendor that refuses a batch (4xx: no batch
endpoint, or one invalid message) gets those messages one request each. Outcomes are written in
batches; a row only moves forward (a receipt may arrive before our SENT write). Only PENDING
rows are sent, so a resumed campaign continues where the last process stopped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import httpx
from pymongo import UpdateMany
from pymongo.cursor import Cursor
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from crm.campaigns.batching import GroupCommit
from crm.campaigns.lease import Lease
from crm.campaigns.model import AWAITING, COMPLETED, FAILED, PENDING, SENT
from crm.campaigns.receipts import chunks, forward_only, per_row
from crm.campaigns.snapshot import take_snapshot
from crm.campaigns.unsubscribe import list_unsubscribe_headers, with_footer
from crm.campaigns.vendor_access import MOCK_PREFIX as VENDOR_PREFIX
from crm.campaigns.vendor_access import vendor_key
from crm.config import Settings
from crm.errors import Conflict
from crm.store.clock import utc_now
from crm.store.documents import Database, Document

PAGE_ROWS = 1_000
VENDOR_BATCH = 200  # messages per vendor request
MAX_REQUESTS_IN_FLIGHT = 4  # enough to keep the vendor busy; more only grows httpx's pool scans
MAX_PASSES = 3
REQUEST_TIMEOUT_SECONDS = 10

Progress = Callable[[str, int], None]  # (phase "snapshot" | "send", rows done since last call)


class VendorBusy(Exception):
    """The vendor answered 429 or 5xx: worth trying again."""


class LeaseLost(Exception):
    """Another dispatcher took the campaign over (our lease ran out)."""


@dataclass(frozen=True)
class Outcome:
    customer_id: str
    accepted: bool
    vendor_message_id: str | None
    attempts: int
    error: str | None = None
    # When the accepted request went out: before the vendor's own times, so a receipt is never
    # dated before its send (the write of the outcome may come a batch later).
    sent_at: datetime | None = None


class Throttle:
    """At most `rate` starts per second, spaced evenly (0: no limit)."""

    def __init__(self, rate: float):
        self.interval = 1 / rate if rate > 0 else 0.0
        self.next_slot = time.monotonic()

    async def wait(self, n: int = 1) -> None:
        """Wait for the slot of the first of `n` messages; the next caller starts `n` slots later."""
        if not self.interval:
            return
        current = time.monotonic()
        slot = max(self.next_slot, current)
        self.next_slot = slot + self.interval * n  # taken before sleeping: no two callers share a slot
        if slot > current:
            await asyncio.sleep(slot - current)


def outcome_updates(campaign_id: str, outcomes: Sequence[Outcome]) -> list[UpdateMany]:
    """PENDING -> SENT (or FAILED), never back: a receipt may already have settled the row.

    One UpdateMany per (outcome, attempts, error) and chunk of rows, with each row's vendor id
    from `per_row`: the embedded server spends per operation, not per row.
    """
    stamp = utc_now()
    groups: dict[tuple[bool, int, str | None], list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault((o.accepted, o.attempts, None if o.accepted else o.error), []).append(o)
    ops = []
    for (accepted, attempts, error), group in groups.items():
        for chunk in chunks(group):
            ids = [o.customer_id for o in chunk]
            if accepted:
                pipeline = forward_only([PENDING], {"updated_at": stamp, "status": SENT})
                # the vendor id and the send time hold whatever the status already is
                pipeline[0]["$set"].update(
                    accepted={"$literal": True},
                    sent_at=per_row(ids, [o.sent_at or stamp for o in chunk]),
                    vendor_message_id=per_row(ids, [o.vendor_message_id for o in chunk]),
                )
            else:
                pipeline = forward_only(
                    [PENDING], {"error": error, "settled_at": stamp, "updated_at": stamp, "status": FAILED}
                )
            pipeline[0]["$set"]["attempts"] = {"$add": [{"$ifNull": ["$attempts", 0]}, attempts]}
            ops.append(UpdateMany({"campaign_id": campaign_id, "customer_id": {"$in": ids}}, pipeline))
    return ops


class Dispatcher:
    def __init__(
        self,
        db: Database,
        campaign_id: str,
        settings: Settings,
        vendor_url: str,
        progress: Progress | None = None,
        owner: str | None = None,
    ):
        self.db, self.campaign_id, self.settings = db, campaign_id, settings
        self.messages_url = f"{vendor_url.rstrip('/')}{VENDOR_PREFIX}/messages"
        self.batch_url = f"{self.messages_url}/batch"
        self.auth = {"Authorization": f"Bearer {vendor_key(settings)}"}
        self.progress = progress or (lambda phase, n: None)
        self.lease = Lease(db, campaign_id, settings.campaign_lease_seconds, owner)
        self.lost = asyncio.Event()
        self.sent = self.failed = 0

    async def run(self) -> None:
        campaign = await asyncio.to_thread(self.lease.claim)
        heartbeat = asyncio.get_running_loop().create_task(self._heartbeat())
        handed_over = False
        try:
            if not campaign.snapshot_done:
                await asyncio.to_thread(take_snapshot, self.db, campaign, lambda n: self.progress("snapshot", n))
            handed_over = await self._send_all()
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
            if not self.lost.is_set():
                await asyncio.to_thread(
                    self.lease.release, await asyncio.to_thread(self._state) if handed_over else None
                )
        if self.lost.is_set():
            raise Conflict(f"campaign {self.campaign_id}: another dispatcher took over (the lease expired)")

    def _state(self) -> str:
        """Completed only when no message waits for its receipt; else awaiting receipts."""
        sent = self.db.communication_log.count_documents({"campaign_id": self.campaign_id, "status": SENT}, limit=1)
        return AWAITING if sent else COMPLETED

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.lease.seconds / 3)
            if not await asyncio.to_thread(self.lease.renew):
                self.lost.set()
                return

    def _batch_size(self) -> int:
        rate = self.settings.campaign_rate_per_second
        return max(1, min(VENDOR_BATCH, rate // 10)) if rate > 0 else VENDOR_BATCH  # throttled: ~0.1 s a batch

    async def _send_all(self) -> bool:
        """Send every PENDING row; True when none is left PENDING."""
        writer = GroupCommit[Outcome](self._write, 1_000, 200).start()
        in_flight = max(1, min(self.settings.campaign_concurrency, MAX_REQUESTS_IN_FLIGHT))
        slots = asyncio.Semaphore(in_flight)
        throttle = Throttle(self.settings.campaign_rate_per_second)
        size = self._batch_size()
        limits = httpx.Limits(max_connections=in_flight)
        try:
            async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_SECONDS, limits=limits, headers=self.auth) as client:
                for _ in range(MAX_PASSES):
                    cursor = self.db.communication_log.find(
                        {"campaign_id": self.campaign_id, "status": PENDING},
                        {"customer_id": 1, "to": 1, "message": 1, "channel": 1, "unsubscribe_url": 1, "dlt": 1},
                    ).batch_size(PAGE_ROWS)
                    while not self.lost.is_set():
                        rows = await asyncio.to_thread(_next_page, cursor)
                        if not rows:
                            break
                        await asyncio.gather(
                            *(
                                self._send_batch(client, slots, throttle, writer, rows[i : i + size])
                                for i in range(0, len(rows), size)
                            )
                        )
                    cursor.close()
                    if self.lost.is_set():
                        return False
                    await writer.close()  # every outcome written before we look again
                    writer = GroupCommit[Outcome](self._write, 1_000, 200).start()
                    left = await asyncio.to_thread(
                        self.db.communication_log.count_documents, {"campaign_id": self.campaign_id, "status": PENDING}
                    )
                    if not left:
                        return True
                return False
        finally:
            await writer.close()

    def _write(self, outcomes: Sequence[Outcome]) -> list[None]:
        self.db.communication_log.bulk_write(outcome_updates(self.campaign_id, outcomes), ordered=False)
        return [None] * len(outcomes)

    async def _send_batch(
        self,
        client: httpx.AsyncClient,
        slots: asyncio.Semaphore,
        throttle: Throttle,
        writer: GroupCommit[Outcome],
        rows: list[Document],
    ) -> None:
        async with slots:
            if self.lost.is_set():
                return
            await throttle.wait(len(rows))
            outcomes = await self._post_batch(client, rows)
        await writer.submit_many(outcomes)
        accepted = sum(1 for o in outcomes if o.accepted)
        self.sent += accepted
        self.failed += len(outcomes) - accepted
        self.progress("send", len(outcomes))

    def _retrying(self) -> AsyncRetrying:
        """Timeouts, refused connections, 429 and 5xx are tried again with growing, jittered waits."""
        return AsyncRetrying(
            stop=stop_after_attempt(max(1, self.settings.campaign_max_attempts)),
            reraise=True,
            wait=wait_exponential_jitter(initial=0.1, max=5),
            retry=retry_if_exception_type((httpx.TransportError, VendorBusy)),
        )

    async def _post_batch(self, client: httpx.AsyncClient, rows: list[Document]) -> list[Outcome]:
        """One request for many messages; those the vendor reports busy are sent again."""
        waiting = {f"{self.campaign_id}:{row['customer_id']}": row for row in rows}
        attempts = dict.fromkeys(waiting, 0)
        outcomes: dict[str, Outcome] = {}
        try:
            async for attempt in self._retrying():
                with attempt:
                    for key in waiting:
                        attempts[key] += 1
                    payload = {"messages": [{"idempotency_key": key, **_payload(row)} for key, row in waiting.items()]}
                    posted = utc_now()
                    response = await client.post(self.batch_url, json=payload)
                    if response.status_code == 429 or response.status_code >= 500:
                        raise VendorBusy(f"vendor answered {response.status_code}")
                    if not response.is_success:  # refused whole: each message on its own says why
                        singles = await asyncio.gather(*(self._post(client, row) for row in waiting.values()))
                        for key, outcome in zip(list(waiting), singles):
                            outcomes[key] = dataclasses.replace(outcome, attempts=attempts[key] + outcome.attempts)
                        waiting.clear()
                        break
                    for result in response.json()["results"]:
                        row = waiting.pop(result["idempotency_key"], None) if result["status"] == "accepted" else None
                        if row is not None:
                            outcomes[result["idempotency_key"]] = Outcome(
                                row["customer_id"],
                                True,
                                result["id"],
                                attempts[result["idempotency_key"]],
                                sent_at=posted,
                            )
                    if waiting:
                        raise VendorBusy(f"vendor busy ({len(waiting)} of the batch)")
        except (httpx.TransportError, VendorBusy) as exc:
            reason = str(exc) or type(exc).__name__
            for key, row in waiting.items():
                outcomes[key] = Outcome(
                    row["customer_id"],
                    False,
                    None,
                    attempts[key],
                    f"not accepted after {attempts[key]} attempt(s): {reason}",
                )
        return list(outcomes.values())

    async def _post(self, client: httpx.AsyncClient, row: Document) -> Outcome:
        key = f"{self.campaign_id}:{row['customer_id']}"
        payload = _payload(row)
        attempts = 0
        try:
            async for attempt in self._retrying():
                with attempt:
                    attempts += 1
                    posted = utc_now()
                    response = await client.post(self.messages_url, json=payload, headers={"Idempotency-Key": key})
                    if response.status_code == 429 or response.status_code >= 500:
                        raise VendorBusy(f"vendor answered {response.status_code}")
        except (httpx.TransportError, VendorBusy) as exc:
            reason = str(exc) or type(exc).__name__
            return Outcome(
                row["customer_id"], False, None, attempts, f"not accepted after {attempts} attempt(s): {reason}"
            )
        if response.is_success:
            return Outcome(row["customer_id"], True, response.json()["id"], attempts, sent_at=posted)
        return Outcome(
            row["customer_id"],
            False,
            None,
            attempts,
            f"rejected by the vendor ({response.status_code}): {_reason(response)}",
        )


def _payload(row: Document) -> Document:
    """One message as the vendor takes it; an email carries its List-Unsubscribe headers."""
    payload = {"channel": row["channel"], "to": row["to"], "body": row["message"]}
    if row.get("unsubscribe_url"):
        payload["body"] = with_footer(row["message"], row["unsubscribe_url"])
        payload["headers"] = list_unsubscribe_headers(row["unsubscribe_url"])
    if row.get("dlt"):  # an Indian SMS gateway refuses a commercial SMS without both
        payload.update(dlt_template_id=row["dlt"]["template_id"], sender=row["dlt"]["header"])
    return payload


def _next_page(cursor: Cursor[Document]) -> list[Document]:
    return list(itertools.islice(cursor, PAGE_ROWS))


def _reason(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]


def dispatch(
    db: Database,
    campaign_id: str,
    settings: Settings,
    vendor_url: str,
    progress: Progress | None = None,
    owner: str | None = None,
) -> Dispatcher:
    """Send the campaign (blocking); raises Conflict when another dispatcher holds it."""
    dispatcher = Dispatcher(db, campaign_id, settings, vendor_url, progress, owner)
    asyncio.run(dispatcher.run())
    return dispatcher
