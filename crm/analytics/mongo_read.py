"""Read customers and orders from MongoDB as Arrow tables, with explicit schemas.

pymongoarrow 1.15 was built against an older pyarrow and prints "size changed" RuntimeWarnings
when imported with pyarrow 25; the ABI change does not touch what we use (a test round-trips
dates, unicode, int64 paise and tags), so the warning is filtered here, at the one import.
"""

from __future__ import annotations

import warnings
from datetime import datetime

import pyarrow as pa
from pymongo.database import Database

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r".*size changed.*", category=RuntimeWarning)
    from pymongoarrow.api import Schema, find_arrow_all

_TS = pa.timestamp("ms")  # pymongoarrow gives UTC as naive timestamps, as DuckDB's TIMESTAMP holds it

CUSTOMER_SCHEMA = Schema({
    "customer_id": pa.string(), "name": pa.string(), "email": pa.string(), "phone": pa.string(),
    "city": pa.string(), "gender": pa.string(), "age": pa.int64(), "signup_date": _TS,
    "tags": pa.list_(pa.string()),
    # Only each channel's status: the analytic copy decides who may be messaged, MongoDB keeps
    # where the consent came from. Older boolean documents read as null, i.e. unknown.
    "consent": pa.struct([(channel, pa.struct([("status", pa.string())])) for channel in ("email", "sms", "whatsapp")]),
    "created_at": _TS, "updated_at": _TS,
})

ORDER_SCHEMA = Schema({
    "order_id": pa.string(), "customer_id": pa.string(), "amount": pa.int64(), "status": pa.string(),
    "order_date": _TS, "created_at": _TS, "updated_at": _TS,
})

SCHEMAS = {"customers": CUSTOMER_SCHEMA, "orders": ORDER_SCHEMA}


def read_changed(db: Database, kind: str, since: datetime | None) -> pa.Table:
    """Every document of `kind` whose updated_at is at or after `since` (all when None)."""
    query = {} if since is None else {"updated_at": {"$gte": since}}
    return find_arrow_all(db[kind], query, schema=SCHEMAS[kind])


def latest_change(db: Database, kind: str) -> datetime | None:
    """The newest updated_at of a collection (one indexed lookup)."""
    doc = db[kind].find_one({}, {"updated_at": 1, "_id": 0}, sort=[("updated_at", -1)])
    return doc.get("updated_at") if doc else None
