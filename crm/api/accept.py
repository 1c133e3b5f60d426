"""Accepting a batch of customers or orders: validate whole, then write or queue.

Plain functions, no HTTP: the API routes call `accept_batch` and turn its errors into 422s.
Validation is the same code path as the CSV import (`crm.ingest.records`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from crm.auth import audit
from crm.auth.permissions import Principal, requires
from crm.ingest.attribute_registry import registered
from crm.ingest.consent import ConsentSource
from crm.ingest.reading import Reading
from crm.ingest.records import Kind, RowError, check_customers_exist, validate_records
from crm.ingest.streams import Producer
from crm.ingest.writer import WriteResult, write_records
from crm.store.clock import utc_now
from crm.store.documents import Database


@dataclass(frozen=True)
class Queued:
    queued: int
    entry_id: str


class BatchRejected(Exception):
    """The batch has invalid items; nothing was written or queued."""

    def __init__(self, errors: list[RowError]):
        super().__init__(f"{len(errors)} problem(s) in the batch")
        self.errors = errors


@requires("data.import")
def accept_batch(
    db: Database,
    kind: Kind,
    rows: Sequence[Mapping],
    producer: Producer | None = None,
    *,
    by: Principal,
    reading: Reading = Reading(),
) -> WriteResult | Queued:
    """Validate every item (index = position in `rows`, values read as `reading` says); write them,
    or queue them when a producer is given. Raises BatchRejected listing each bad item."""
    if not rows:
        raise BatchRejected([RowError(0, "", "the batch is empty: send an object or a non-empty array")])
    attributes = registered(db) if kind == "customers" else ()
    result = validate_records(kind, rows, first_row=0, reading=reading, attributes=attributes)
    errors = list(result.errors)
    if kind == "orders" and result.valid:
        errors += _unknown_customers(db, result.valid, result.rows, producer)
    if errors:
        raise BatchRejected(sorted(errors, key=lambda e: e.row))
    if producer is None:
        written = write_records(db, kind, result.valid, origin=ConsentSource(by.username, utc_now()))
        audit.record(by, f"api.write.{kind}", "", {"items": len(rows), **vars(written)}, db=db)
        return written
    entry_id = producer.enqueue(kind, list(rows), [r.customer_id for r in result.valid], source=by.username)
    audit.record(by, f"api.write.{kind}", "", {"items": len(rows), "queued": entry_id}, db=db)
    return Queued(queued=len(rows), entry_id=entry_id)


def _unknown_customers(db: Database, records, rows: list[int], producer: Producer | None) -> list[RowError]:
    errors = check_customers_exist(db, records, rows)
    if not errors or producer is None:
        return errors
    # Customers accepted a moment ago may still be in the stream: those count as known.
    by_row = dict(zip(rows, records))
    queued = producer.queued_customers({by_row[e.row].customer_id for e in errors})
    return [e for e in errors if by_row[e.row].customer_id not in queued]
