"""The frequency cap, enforced on the ledger: communication_log, which already holds every message
we committed to send (PENDING, SENT, DELIVERED), when and on which channel.

A customer is capped when the log holds `messages` or more of their messages created in the last
`days` days (on the campaign's channel, or on any with `across_channels`). Held-out members and
failed messages did not reach anyone, so they do not count.

Two campaigns starting at once must not together pass the cap: snapshots that apply a cap run
one at a time, under a workspace-wide lock in MongoDB (a conditional upsert, so of two claimants
exactly one wins), and each counts the rows the previous one wrote. Without a cap nothing waits.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from pymongo.errors import DuplicateKeyError

from crm.campaigns.audience import HeldBack
from crm.campaigns.lease import new_owner_id
from crm.campaigns.model import DELIVERED, PENDING, SENT
from crm.campaigns.sending_rules import FrequencyCap, frequency_cap
from crm.errors import Unavailable
from crm.ingest.suppressions import suppressed_contacts
from crm.store.clock import utc_now
from crm.store.documents import Database

LOCKS = "locks"
LOCK_ID = "frequency_cap_snapshot"
LOCK_SECONDS = 300  # renewed every batch of the snapshot; a crashed holder frees it after this
WAIT_SECONDS = 900
REACHED = (PENDING, SENT, DELIVERED)


def capped_customers(
    db: Database, cap: FrequencyCap, channel: str, now: datetime, campaign_id: str | None = None
) -> set[str]:
    """Customers who may get no more messages on `channel` now; `campaign_id`'s own rows (a
    snapshot resumed after a crash) are not counted against it."""
    match: dict[str, Any] = {"created_at": {"$gt": now - timedelta(days=cap.days)}, "status": {"$in": list(REACHED)}}
    if not cap.across_channels:
        match["channel"] = channel
    if campaign_id is not None:
        match["campaign_id"] = {"$ne": campaign_id}
    pipeline = [
        {"$match": match},
        {"$group": {"_id": "$customer_id", "n": {"$sum": 1}}},
        {"$match": {"n": {"$gte": cap.messages}}},
    ]
    return {doc["_id"] for doc in db.communication_log.aggregate(pipeline)}


def held_back_now(db: Database, channel: str) -> HeldBack:
    """For the pre-send check: who the suppression lists and the cap hold back at this moment."""
    cap = frequency_cap(db)
    capped = capped_customers(db, cap, channel, utc_now()) if cap else set()
    return HeldBack(suppressed_contacts(db, channel), capped)


class LedgerLock:
    """The workspace's one snapshot that applies the cap; `renew` while it works."""

    def __init__(self, db: Database, seconds: int = LOCK_SECONDS):
        self.db, self.seconds, self.owner = db, seconds, new_owner_id()

    def try_claim(self) -> bool:
        now = utc_now()
        free = {"$or": [{"until": None}, {"until": {"$lt": now}}, {"owner": self.owner}]}
        try:
            self.db[LOCKS].update_one(
                {"_id": LOCK_ID, **free},
                {"$set": {"owner": self.owner, "until": now + timedelta(seconds=self.seconds)}},
                upsert=True,
            )
            return True
        except DuplicateKeyError:  # the lock exists and someone else holds it
            return False

    def renew(self) -> None:
        """Extend the lock; Unavailable when it ran out and another snapshot took it (two
        snapshots counting at once could pass the cap together: this one stops)."""
        result = self.db[LOCKS].update_one(
            {"_id": LOCK_ID, "owner": self.owner}, {"$set": {"until": utc_now() + timedelta(seconds=self.seconds)}}
        )
        if result.matched_count != 1:
            raise Unavailable(
                "the frequency cap's lock ran out while this campaign took its audience; resume the campaign"
            )

    def release(self) -> None:
        self.db[LOCKS].update_one({"_id": LOCK_ID, "owner": self.owner}, {"$set": {"owner": None, "until": None}})


@contextmanager
def ledger_lock(db: Database, wait_seconds: float = WAIT_SECONDS) -> Iterator[LedgerLock]:
    """Hold the lock for the block, waiting for another snapshot to finish first."""
    lock = LedgerLock(db)
    deadline = time.monotonic() + wait_seconds
    pause = 0.05
    while not lock.try_claim():
        if time.monotonic() > deadline:
            raise Unavailable(
                f"another campaign has been taking its audience for over {wait_seconds:.0f} s; try again shortly"
            )
        time.sleep(pause)  # waiting on another process's snapshot: poll, backing off to a second
        pause = min(1.0, pause * 2)
    try:
        yield lock
    finally:
        lock.release()
