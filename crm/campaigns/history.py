"""What the History page shows of one campaign: its log, failure reasons, timeline, CSV export."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from typing import Any

import pandas as pd

from crm.auth import audit
from crm.auth.permissions import Principal, requires
from crm.campaigns.model import DELIVERED, FAILED, HOLDOUT, PENDING, SENT
from crm.formats.csv_safety import safe_dict_writer
from crm.store.documents import Database, Document

STATUSES = (PENDING, SENT, DELIVERED, FAILED, HOLDOUT)
LOG_COLUMNS = [
    "customer_id",
    "to",
    "status",
    "variant",
    "message",
    "vendor_message_id",
    "attempts",
    "error",
    "sent_at",
    "settled_at",
]


def _log_filter(campaign_id: str, statuses: Iterable[str] = (), search: str = "") -> Document:
    query: Document = {"campaign_id": campaign_id}
    chosen = [s for s in statuses if s in STATUSES]
    if chosen:
        query["status"] = {"$in": chosen}
    text = (search or "").strip()
    if text:  # literal text anywhere in the id or address, ignoring case
        pattern = {"$regex": re.escape(text), "$options": "i"}
        query["$or"] = [{"customer_id": pattern}, {"to": pattern}]
    return query


def log_page(
    db: Database, campaign_id: str, statuses: Iterable[str] = (), search: str = "", limit: int = 200, skip: int = 0
) -> tuple[pd.DataFrame, int]:
    """Log rows matching the filters (by customer id) and how many match in all."""
    query = _log_filter(campaign_id, statuses, search)
    total = db.communication_log.count_documents(query)
    rows = list(
        db.communication_log.find(query, {"_id": 0, **{c: 1 for c in LOG_COLUMNS}})
        .sort("customer_id", 1)
        .skip(skip)
        .limit(limit)
    )
    frame = pd.DataFrame(rows, columns=LOG_COLUMNS)
    frame["variant"] = frame["variant"] + 1  # variants are numbered from 1 wherever people read them
    for column in ("sent_at", "settled_at"):  # naive UTC, the way the pages show times
        frame[column] = pd.to_datetime(frame[column], utc=True).dt.tz_convert(None)
    return frame, total


@requires("data.export")
def log_csv(db: Database, campaign_id: str, statuses: Iterable[str] = (), search: str = "", *, by: Principal) -> bytes:
    """The whole (filtered) log as CSV, one row per customer (formula-like text neutralised)."""
    out = io.StringIO()
    writer = safe_dict_writer(out, fieldnames=LOG_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    cursor = db.communication_log.find(_log_filter(campaign_id, statuses, search), {"_id": 0}).sort("customer_id", 1)
    rows = 0
    for row in cursor:
        shown = {k: ("" if row.get(k) is None else row.get(k)) for k in LOG_COLUMNS}
        if isinstance(row.get("variant"), int):
            shown["variant"] = row["variant"] + 1  # numbered from 1, as on the pages
        writer.writerow(shown)
        rows += 1
    audit.record(
        by, "campaign.log_export", campaign_id, {"rows": rows, "statuses": list(statuses), "search": search}, db=db
    )
    return out.getvalue().encode("utf-8")


def failure_reasons(db: Database, campaign_id: str) -> pd.DataFrame:
    pipeline: list[dict[str, Any]] = [
        {"$match": {"campaign_id": campaign_id, "status": FAILED}},
        {"$group": {"_id": "$error", "messages": {"$sum": 1}}},
    ]
    rows = [
        {"reason": g["_id"] or "(no reason given)", "messages": g["messages"]}
        for g in db.communication_log.aggregate(pipeline)
    ]
    frame = pd.DataFrame(rows, columns=["reason", "messages"])
    return frame.sort_values(["messages", "reason"], ascending=[False, True], ignore_index=True)


def timeline(db: Database, campaign_id: str) -> pd.DataFrame:
    """Cumulative sent, delivered and failed messages over time (one point per second with events).

    Counted as `campaign_stats` counts, so the last point is the counters: sent = accepted by the
    vendor, delivered and failed = settled. A message is sent at `sent_at`; one accepted without
    it (its receipt came, the sender's write of the send did not) at the latest by its receipt.
    """
    rows = db.communication_log.find(
        {"campaign_id": campaign_id},
        {"_id": 0, "status": 1, "accepted": 1, "sent_at": 1, "settled_at": 1, "updated_at": 1},
    )
    events = []
    for row in rows:
        settled = row.get("settled_at") or row.get("updated_at")
        if row.get("accepted"):
            events.append((row.get("sent_at") or settled, "sent"))
        if row.get("status") in (DELIVERED, FAILED):
            events.append((settled, row["status"].lower()))
    if not events:
        return pd.DataFrame(columns=["time", "sent", "delivered", "failed"])
    frame = pd.DataFrame(events, columns=["time", "event"])
    frame["time"] = pd.to_datetime(frame["time"], utc=True).dt.floor("s").dt.tz_convert(None)  # shown as UTC
    counts = frame.groupby(["time", "event"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=["sent", "delivered", "failed"], fill_value=0).sort_index().cumsum()
    return counts.reset_index()
