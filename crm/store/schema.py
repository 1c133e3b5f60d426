"""Collections and their indexes, created idempotently on first use."""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, IndexModel

from crm.store.documents import Database

# The two kinds of record users bring in; each is a collection here and a table in the analytic copy.
RECORD_KINDS = ("customers", "orders")
# Ids per `$in` query, for every lookup by a list of ids. The embedded server's cost grows with the
# square of the matches of one `$in` (measured: 1000 ids 0.96 s, 20 x 50 ids 0.12 s).
IN_QUERY_CHUNK = 50

INDEXES: dict[str, list[IndexModel]] = {
    "customers": [
        IndexModel([("customer_id", ASCENDING)], unique=True),
        IndexModel([("updated_at", ASCENDING)]),  # watermark for the analytic copy
        IndexModel([("city", ASCENDING)]),
        # An opt-out by address (a STOP reply, an unsubscribe, a suppression list) finds every record with it.
        IndexModel([("phone", ASCENDING)]),
        IndexModel([("email", ASCENDING)]),
    ],
    "orders": [
        IndexModel([("order_id", ASCENDING)], unique=True),
        IndexModel([("customer_id", ASCENDING), ("order_date", DESCENDING)]),
        IndexModel([("updated_at", ASCENDING)]),
    ],
    "segments": [
        IndexModel([("name", ASCENDING)], unique=True),
    ],
    "campaigns": [
        IndexModel([("created_at", DESCENDING)]),
        # the scheduler's due check: scheduled campaigns by their time
        IndexModel([("status", ASCENDING), ("scheduled_at", ASCENDING)]),
    ],
    "communication_log": [
        # No customer gets the same campaign twice, even across a crash.
        IndexModel([("campaign_id", ASCENDING), ("customer_id", ASCENDING)], unique=True),
        IndexModel([("campaign_id", ASCENDING), ("status", ASCENDING)]),
        # The frequency cap counts each customer's messages of the last days.
        IndexModel([("created_at", ASCENDING)]),
    ],
    "vendor_messages": [
        # The mock vendor's take-over of receipts a stopped poster still owed.
        IndexModel([("poster", ASCENDING), ("receipt_due_at", ASCENDING)]),
    ],
    "api_keys": [
        IndexModel([("key_hash", ASCENDING)], unique=True),
        IndexModel([("name", ASCENDING)]),
    ],
    "users": [
        IndexModel([("username", ASCENDING)], unique=True),
    ],
    "audit_log": [
        IndexModel([("at", DESCENDING)]),
    ],
    "erasures": [
        IndexModel([("customer_id", ASCENDING), ("erased_at", DESCENDING)]),  # the stream worker, each step
        IndexModel([("erased_at", ASCENDING)]),  # each analytic copy's refresh, since its watermark
    ],
}


def ensure_indexes(db: Database) -> None:
    for name, indexes in INDEXES.items():
        db[name].create_indexes(indexes)
