"""Erasing a customer on request (DPDP Act 2023 s.12, GDPR Art. 17).

The customer and their orders leave MongoDB; every message sent to them keeps its row (so a
campaign's counters stay exact) with the address and text replaced by a tombstone, and a message
not yet sent is settled as FAILED instead of going out. The erasure is journaled by id in
`erasures`, which every process's analytic copy reads on its next refresh to drop the customer
(the copy follows MongoDB's changes by time, and a deletion leaves no document to find); this
process then writes a new snapshot, so no file on disk keeps them either. Who erased whom goes
to the audit log, by id only.

With the Redis queue, a customer may also wait in the stream (accepted, not yet written) or in
its dead letters. Such a customer can be erased too; their rows leave the dead letters here, and
the stream worker drops rows of batches accepted before the erasure (`erasure_times`), so
nothing queued brings them back.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from crm.auth import audit
from crm.auth.permissions import Principal, requires
from crm.errors import NotFound, Unavailable
from crm.ingest.inbound import INBOUND
from crm.store.clock import utc_now
from crm.store.documents import Database, Document

if TYPE_CHECKING:  # Redis is imported only when a queue is configured
    import redis

    from crm.ingest.redis_queue import StreamKeys

    Queue = tuple[redis.Redis, StreamKeys]

ERASED = "[erased]"
ERASURES = "erasures"
NOT_SENT_REASON = "customer erased before sending"


@dataclass(frozen=True)
class ErasureReport:
    customer_id: str
    orders: int
    messages: int  # log rows turned into tombstones
    unsent: int  # of them, messages that had not gone out and were settled as FAILED

    def summary(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "orders": self.orders,
            "messages": self.messages,
            "unsent": self.unsent,
        }


@requires("customer.erase")
def erase_customer(db: Database, customer_id: str, *, by: Principal) -> ErasureReport:
    """Erase one customer everywhere; NotFound when there is no such customer (any more)."""
    customer_id = str(customer_id).strip()
    stamp = utc_now()
    with _queue() as queue:
        known = db.customers.find_one({"customer_id": customer_id}, {"_id": 1}) is not None or (
            queue is not None and _queued(queue, customer_id)
        )
        # Journal first: should anything below fail, a retry finds the customer and finishes, and
        # the copies (and the stream worker) already drop what is gone.
        if known:
            db[ERASURES].insert_one({"customer_id": customer_id, "erased_at": stamp})
        in_dead_letters = _scrub(queue, customer_id) if queue is not None else 0
    if not known:
        if not in_dead_letters:
            raise NotFound(f"no customer with customer_id {customer_id!r} (never imported, or already erased)")
        db[ERASURES].insert_one({"customer_id": customer_id, "erased_at": stamp})
    unsent = db.communication_log.update_many(
        {"customer_id": customer_id, "status": "PENDING"},
        {"$set": {"status": "FAILED", "error": NOT_SENT_REASON, "settled_at": stamp, "updated_at": stamp}},
    )
    messages = db.communication_log.update_many(
        {"customer_id": customer_id},
        {
            "$set": {"to": ERASED, "message": ERASED, "erased_at": stamp, "updated_at": stamp},
            "$unset": {"unsubscribe_url": ""},
        },
    )
    stored = db.customers.find_one({"customer_id": customer_id}, {"phone": 1}) or {}
    if stored.get("phone"):  # their replies (STOP...) hold their number and words
        db[INBOUND].delete_many({"from": stored["phone"]})
    _erase_at_vendor(db, customer_id)
    orders = db.orders.delete_many({"customer_id": customer_id})
    db.customers.delete_one({"customer_id": customer_id})
    report = ErasureReport(customer_id, orders.deleted_count, messages.modified_count, unsent.modified_count)
    # Audited before the copy is refreshed: should that fail, the erasure is still on record (and
    # the journal makes every copy drop the customer at its next refresh).
    audit.record(by, "customer.erase", customer_id, {"orders": report.orders, "messages": report.messages}, db=db)
    _drop_from_analytic_copy()
    return report


def erase_again(db: Database, customer_id: str) -> None:
    """Take out a customer that a queued write put back while they were being erased.

    Journaled again first, at this later time, so every analytic copy drops what that write
    brought in as well."""
    db[ERASURES].insert_one({"customer_id": customer_id, "erased_at": utc_now()})
    db.orders.delete_many({"customer_id": customer_id})
    db.customers.delete_one({"customer_id": customer_id})


def erasure_times(db: Database, customer_ids: Iterable[str]) -> dict[str, datetime]:
    """The latest erasure (UTC) of each of these customers that was ever erased."""
    ids = sorted(set(customer_ids))
    latest: dict[str, datetime] = {}
    if not ids:
        return latest
    for doc in db[ERASURES].find({"customer_id": {"$in": ids}}, {"_id": 0, "customer_id": 1, "erased_at": 1}):
        at = doc["erased_at"]
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at  # MongoDB returns naive UTC
        latest[doc["customer_id"]] = max(at, latest.get(doc["customer_id"], at))
    return latest


@contextmanager
def _queue() -> Iterator[Queue | None]:
    """(client, keys) of the Redis queue when one is configured, else None."""
    from crm.config import load_settings
    from crm.ingest.redis_queue import StreamKeys, redis_client

    settings = load_settings()
    if not settings.redis_url:
        yield None
        return
    client = redis_client(settings)
    try:
        yield client, StreamKeys(settings.stream_prefix)
    finally:
        client.close()


def _queue_unavailable(exc: Exception) -> Unavailable:
    return Unavailable(
        f"the queue (Redis) does not answer ({exc}), so what it holds of this customer "
        "cannot be erased yet; try again when Redis is back"
    )


def _queued(queue: Queue, customer_id: str) -> bool:
    import redis

    client, keys = queue
    try:
        return bool(client.sismember(keys.queued_customers, customer_id))
    except redis.RedisError as exc:
        raise _queue_unavailable(exc) from exc


def _scrub(queue: Queue, customer_id: str) -> int:
    """Their rows leave the dead letters (the worker drops them from the stream itself)."""
    import redis

    from crm.ingest.dead_letters import scrub_dead_letters

    client, keys = queue
    try:
        return scrub_dead_letters(client, keys, customer_id)
    except redis.RedisError as exc:
        raise _queue_unavailable(exc) from exc


def _erase_at_vendor(db: Database, customer_id: str) -> None:
    """The mock vendor keeps what it was sent in this database: tombstone that too."""
    from crm.campaigns.vendor_access import MOCK_VENDOR_MESSAGES as COLLECTION

    # Its ids are "<campaign id>:<customer id>"; the campaign ids are the ones of the log rows.
    keys = [
        f"{campaign_id}:{customer_id}"
        for campaign_id in db.communication_log.distinct("campaign_id", {"customer_id": customer_id})
    ]
    if keys:
        db[COLLECTION].update_many({"_id": {"$in": keys}}, {"$set": {"to": ERASED, "body": ERASED}})


def _drop_from_analytic_copy() -> None:
    """Refresh this process's copy (it reads the journal) and rewrite the snapshot file."""
    from crm.analytics import after_write
    from crm.analytics.analytic_copy import open_copy

    after_write("customers")  # refreshes this copy if open; the marker tells other processes
    open_copy().save_snapshot()  # opening (if it was not open) catches up from the journal too


def erased_since(db: Database, since: datetime | None) -> list[Document]:
    """Erasures journaled at or after `since` (all when None), for the analytic copy."""
    query = {} if since is None else {"erased_at": {"$gte": since}}
    return list(db[ERASURES].find(query, {"_id": 0, "customer_id": 1, "erased_at": 1}))
