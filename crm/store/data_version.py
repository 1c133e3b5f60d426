"""A cheap token that changes whenever customers or orders change: the key for cached results.

Counts catch deletions; the newest `updated_at` catches inserts and updates. Finding the newest
by sorting is a scan on the embedded server (~1 s at 50k orders), but a range query on the
indexed `updated_at` is not, so each process remembers the newest it has seen and only asks
for anything newer.
"""

from __future__ import annotations

import threading
from datetime import datetime

from crm.store.documents import Database
from crm.store.schema import RECORD_KINDS

_lock = threading.Lock()
_newest_seen: dict[tuple, datetime] = {}


def _newest_change(db: Database, kind: str) -> datetime | None:
    key = (id(db.client), db.name, kind)
    with _lock:
        known = _newest_seen.get(key)
    query = {"updated_at": {"$gt": known}} if known else {}
    doc = db[kind].find_one(query, {"updated_at": 1, "_id": 0}, sort=[("updated_at", -1)])
    newest = doc.get("updated_at") if doc else None
    if newest is None:
        return known
    with _lock:
        _newest_seen[key] = max(newest, _newest_seen.get(key, newest))
        return _newest_seen[key]


def data_version(db: Database) -> tuple:
    version: list = []
    for kind in RECORD_KINDS:
        version += [db[kind].estimated_document_count(), _newest_change(db, kind)]
    return tuple(version)
