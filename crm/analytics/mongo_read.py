"""Read customers and orders from MongoDB as Arrow tables, with explicit schemas.

pymongoarrow 1.15 was built against an older pyarrow and prints "size changed" RuntimeWarnings
when imported with pyarrow 25; the ABI change does not touch what we use (a test round-trips
dates, unicode, int64 paise and tags), so the warning is filtered here, at the one import.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from crm.analytics.loadable import ID_FIELD, PROJECTION, problems, row_id, suspects
from crm.segment_engine.attributes import Attribute
from crm.store.documents import Database

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r".*size changed.*", category=RuntimeWarning)
    from pymongoarrow.api import Schema, find_arrow_all

_TS = pa.timestamp("ms")  # pymongoarrow gives UTC as naive timestamps, as DuckDB's TIMESTAMP holds it

CUSTOMER_SCHEMA = Schema(
    {
        "customer_id": pa.string(),
        "name": pa.string(),
        "email": pa.string(),
        "phone": pa.string(),
        "city": pa.string(),
        "gender": pa.string(),
        "age": pa.int64(),
        "signup_date": _TS,
        "tags": pa.list_(pa.string()),
        # Only each channel's status: the analytic copy decides who may be messaged, MongoDB keeps
        # where the consent came from. Older boolean documents read as null, i.e. unknown.
        "consent": pa.struct(
            [(channel, pa.struct([("status", pa.string())])) for channel in ("email", "sms", "whatsapp")]
        ),
        "created_at": _TS,
        "updated_at": _TS,
    }
)

ORDER_SCHEMA = Schema(
    {
        "order_id": pa.string(),
        "customer_id": pa.string(),
        "amount": pa.int64(),
        "status": pa.string(),
        "order_date": _TS,
        "created_at": _TS,
        "updated_at": _TS,
    }
)

SCHEMAS = {"customers": CUSTOMER_SCHEMA, "orders": ORDER_SCHEMA}
# How each kind of custom attribute is read (a value of another type reads as null).
_ATTRIBUTE_TYPES = {
    "text": pa.string(),
    "number": pa.float64(),
    "date": _TS,
    "yes/no": pa.bool_(),
    "list": pa.list_(pa.string()),
}


def schema_for(kind: str, attributes: Sequence[Attribute] = ()) -> Schema:
    """The read schema of `kind`; customers with an `attributes` struct of the registered ones."""
    if kind != "customers" or not attributes:
        return SCHEMAS[kind]
    struct = pa.struct([(a.key, _ATTRIBUTE_TYPES[a.kind]) for a in attributes])
    base = CUSTOMER_SCHEMA.to_arrow()
    return Schema({**dict(zip(base.names, base.types)), "attributes": struct})


@dataclass(frozen=True)
class Skipped:
    """A document the analytic copy cannot load: its id and what is wrong with it."""

    kind: str
    row_id: str
    reason: str


@dataclass(frozen=True)
class Read:
    table: pa.Table  # the documents that can be loaded
    skipped: list[Skipped] = field(default_factory=list)


def read_changed(db: Database, kind: str, since: datetime | None, attributes: Sequence[Attribute] = ()) -> pa.Table:
    """Every loadable document of `kind` whose updated_at is at or after `since` (all when None)."""
    return read_loadable(db, kind, since, attributes).table


def read_loadable(db: Database, kind: str, since: datetime | None, attributes: Sequence[Attribute] = ()) -> Read:
    """Like `read_changed`, and the documents left out with their reasons (`loadable.py`)."""
    query = {} if since is None else {"updated_at": {"$gte": since}}
    table = find_arrow_all(db[kind], query, schema=schema_for(kind, attributes), allow_invalid=True)
    mask = suspects(kind, table)
    if not pc.any(mask).as_py():
        return Read(table)
    doubtful = table.filter(mask)
    id_field = ID_FIELD[kind]
    ids = [i for i in doubtful[id_field].to_pylist() if i is not None]
    docs = list(db[kind].find({**query, id_field: {"$in": ids}}, PROJECTION[kind])) if ids else []
    if len(ids) < doubtful.num_rows:  # ids that are missing or not text: found by type (rare)
        docs += db[kind].find({**query, id_field: {"$not": {"$type": "string"}}}, PROJECTION[kind])
    skipped = [Skipped(kind, row_id(kind, doc), "; ".join(found)) for doc in docs if (found := problems(kind, doc))]
    # A suspect without problems changed since it was read; the next refresh reads it again.
    return Read(table.filter(pc.invert(mask)), skipped)


def latest_change(db: Database, kind: str) -> datetime | None:
    """The newest updated_at of a collection (one indexed lookup)."""
    doc = db[kind].find_one({}, {"updated_at": 1, "_id": 0}, sort=[("updated_at", -1)])
    return doc.get("updated_at") if doc else None
