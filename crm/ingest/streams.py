"""Asynchronous persistence through Redis Streams: the API queues, a worker writes.

- The API validates a batch, then `Producer.enqueue` XADDs it as one entry (the items as they
  were sent, so the worker validates exactly what the API validated) and answers 202.
- `Worker` reads through a consumer group, writes with `write_records` (idempotent upserts by
  external id) and XACKs only after the write. A worker killed mid-write leaves its entries
  pending; any worker reclaims them with XAUTOCLAIM once idle for `claim_idle_ms`, and writing
  them again changes nothing that was already written, so every record lands exactly once.
- Redis counts deliveries. An entry that failed `max_attempts` times (or cannot be decoded at
  all) moves to the dead-letter stream in one transaction with its XACK (`crm.ingest.dead_letters`
  lists and replays them).
- Customers queued but not yet written are kept in a set, so an order for them is accepted
  before the worker has caught up (the worker still checks the customer exists before writing).
- A customer erased after a batch was accepted does not come back through it: the worker drops
  that customer's rows and orders from batches accepted before the erasure (replayed dead
  letters keep their `accepted_at`, so they are checked the same way); a batch accepted after
  it is a new import and is written.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import redis
from redis.client import Pipeline

from crm.config import Settings
from crm.errors import Unavailable
from crm.ingest.attribute_registry import registered
from crm.ingest.consent import ConsentSource
from crm.ingest.reading import Reading, workspace_reading
from crm.ingest.records import ID_FIELDS, Kind, Record, check_customers_exist, validate_records
from crm.ingest.redis_queue import Fields, NewFields, StreamKeys, entries_of, now_text, redis_client
from crm.ingest.writer import write_records
from crm.store.clock import utc_now
from crm.store.documents import Database
from crm.store.schema import RECORD_KINDS

log = logging.getLogger("crm.ingest.streams")


class Producer:
    def __init__(self, client: redis.Redis, keys: StreamKeys) -> None:
        self.client, self.keys = client, keys

    def enqueue(
        self, kind: str, rows: Sequence[Mapping[str, Any]], customer_ids: Iterable[str] = (), source: str = ""
    ) -> str:
        """Append one validated batch; returns the stream entry id. `source` names who sent it
        (an API key), which the worker records as the customers' consent source."""
        fields: NewFields = {
            "kind": kind,
            "count": len(rows),
            "rows": json.dumps(rows, ensure_ascii=False),
            "accepted_at": now_text(),
            "source": source,
        }
        try:
            with self.client.pipeline(transaction=True) as pipe:
                if kind == "customers":
                    ids = list(dict.fromkeys(customer_ids))
                    if ids:
                        pipe.sadd(self.keys.queued_customers, *ids)
                pipe.xadd(self.keys.stream, fields)
                return str(pipe.execute()[-1])
        except redis.RedisError as exc:
            raise Unavailable(f"the queue (Redis) did not accept the batch: {exc}") from exc

    def queued_customers(self, customer_ids: set[str]) -> set[str]:
        """Those of `customer_ids` that are queued and not yet written."""
        if not customer_ids:
            return set()
        ids = sorted(customer_ids)
        try:
            flags = self.client.smismember(self.keys.queued_customers, ids)
        except redis.RedisError as exc:
            raise Unavailable(f"the queue (Redis) does not answer: {exc}") from exc
        return {cid for cid, flag in zip(ids, flags) if flag}


class EntryFailed(Exception):
    """Writing an entry failed; `permanent` when retrying cannot help (a corrupt entry)."""

    def __init__(self, reason: str, permanent: bool = False):
        super().__init__(reason)
        self.reason, self.permanent = reason, permanent


@dataclass
class Entry:
    entry_id: str
    fields: Fields
    deliveries: int
    kind: str = ""
    records: list[Record] = field(default_factory=list)
    erased: list[str] = field(default_factory=list)  # customer ids whose rows were dropped (erased since)


@dataclass
class WorkerStats:
    written: int = 0  # entries written and acknowledged
    failed: int = 0  # failed attempts (left pending for a retry)
    dead_lettered: int = 0
    dropped_erased: int = 0  # rows not written: their customer was erased after they were accepted


class Worker:
    def __init__(
        self,
        db: Database,
        client: redis.Redis,
        keys: StreamKeys,
        *,
        max_attempts: int = 5,
        claim_idle_ms: int = 30_000,
        block_ms: int = 1000,
        read_count: int = 50,
        consumer: str | None = None,
        reading: Reading = Reading(),
    ):
        self.db, self.client, self.keys = db, client, keys
        self.max_attempts, self.claim_idle_ms = max_attempts, claim_idle_ms
        self.block_ms, self.read_count = block_ms, read_count
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.stats = WorkerStats()
        self._claim_cursor = "0-0"
        self.reading = reading  # as the API read them: queued rows are validated again here

    @classmethod
    def from_settings(cls, db: Database, settings: Settings, **kwargs: Any) -> Worker:
        return cls(
            db,
            redis_client(settings),
            StreamKeys(settings.stream_prefix),
            max_attempts=settings.stream_max_attempts,
            claim_idle_ms=settings.stream_claim_idle_ms,
            reading=workspace_reading(settings),
            **kwargs,
        )

    def ensure_group(self) -> None:
        try:
            self.client.xgroup_create(self.keys.stream, self.keys.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def run(self, stop: threading.Event) -> None:
        self.ensure_group()
        while not stop.is_set():
            self.step()

    def step(self) -> int:
        """Reclaim stale entries, read new ones, write them; returns how many were handled."""
        entries = self._reclaim()
        reply: Any = self.client.xreadgroup(
            self.keys.group,
            self.consumer,
            {self.keys.stream: ">"},
            count=self.read_count,
            block=None if entries else self.block_ms,
        )
        for _, items in reply or []:
            entries += [Entry(entry_id, fields, 1) for entry_id, fields in entries_of(items)]
        self._handle(entries)
        return len(entries)

    def _reclaim(self) -> list[Entry]:
        """Entries pending longer than claim_idle_ms (their worker died or failed them)."""
        reply: Any = self.client.xautoclaim(
            self.keys.stream,
            self.keys.group,
            self.consumer,
            self.claim_idle_ms,
            start_id=self._claim_cursor,
            count=self.read_count,
        )
        next_cursor, claimed, deleted = reply[:3]
        self._claim_cursor = next_cursor
        if deleted:  # trimmed away while pending: nothing left to write
            self.client.xack(self.keys.stream, self.keys.group, *deleted)
        claimed = entries_of(claimed)
        if not claimed:
            return []
        with self.client.pipeline(transaction=False) as pipe:
            for entry_id, _ in claimed:
                pipe.xpending_range(self.keys.stream, self.keys.group, entry_id, entry_id, 1)
            pending = pipe.execute()
        return [
            Entry(entry_id, fields, info[0]["times_delivered"] if info else self.max_attempts + 1)
            for (entry_id, fields), info in zip(claimed, pending)
        ]

    def _handle(self, entries: list[Entry]) -> None:
        ready: list[Entry] = []
        for entry in entries:
            if entry.deliveries > self.max_attempts:
                self._dead_letter(
                    entry,
                    f"delivered {entry.deliveries - 1} times without being "
                    "written (the worker stopped or failed each time)",
                )
                continue
            try:
                self._decode(entry)
            except EntryFailed as exc:
                self._failed(entry, exc)
                continue
            ready.append(entry)
        ready = self._drop_erased(ready)
        # Consecutive entries of one kind are written together: many small batches (one order
        # per request) then cost one database round trip instead of one each. A record sent
        # twice starts a new run, so each version is written in order, as it was sent.
        run: list[Entry] = []
        run_ids: set[str] = set()
        for entry in ready:
            ids = {getattr(r, ID_FIELDS[entry.kind]) for r in entry.records}
            if run and (entry.kind != run[0].kind or not run_ids.isdisjoint(ids)):
                self._write_run(run)
                run, run_ids = [], set()
            run.append(entry)
            run_ids |= ids
        if run:
            self._write_run(run)

    def _decode(self, entry: Entry) -> None:
        kind, raw = entry.fields.get("kind"), entry.fields.get("rows")
        if kind not in RECORD_KINDS or not isinstance(raw, str):
            raise EntryFailed("the entry has no valid kind or rows field", permanent=True)
        try:
            rows = json.loads(raw)
        except ValueError as exc:
            raise EntryFailed(f"the rows are not JSON: {exc}", permanent=True) from None
        if not isinstance(rows, list) or not rows:
            raise EntryFailed("the rows are not a non-empty JSON array", permanent=True)
        # Read at each customers entry: an attribute registered after the worker started is known.
        attributes = registered(self.db) if kind == "customers" else ()
        result = validate_records(cast(Kind, kind), rows, first_row=0, reading=self.reading, attributes=attributes)
        if result.errors:
            first = result.errors[0]
            raise EntryFailed(
                f"{len(result.errors)} invalid item(s), first: item {first.row} {first.column}: {first.reason}",
                permanent=True,
            )
        entry.kind, entry.records = kind, result.valid

    def _drop_erased(self, entries: list[Entry]) -> list[Entry]:
        """Drop rows of customers erased after their entry was accepted; entries left with
        nothing to write are acknowledged at once. Returns the entries still to write."""
        from crm.ingest.erasure import erasure_times

        erased = erasure_times(self.db, {r.customer_id for e in entries for r in e.records})
        if not erased:
            return entries
        keep: list[Entry] = []
        emptied: list[Entry] = []
        for entry in entries:
            accepted = _accepted_at(entry)
            gone = {cid for cid, at in erased.items() if at >= accepted}
            if gone:
                entry.erased = sorted(gone & {r.customer_id for r in entry.records})
                before = len(entry.records)
                entry.records = [r for r in entry.records if r.customer_id not in gone]
                self.stats.dropped_erased += before - len(entry.records)
                if before != len(entry.records):
                    log.info(
                        "stream entry %s: %d row(s) of erased customers not written",
                        entry.entry_id,
                        before - len(entry.records),
                    )
            (keep if entry.records else emptied).append(entry)
        if emptied:
            self._acknowledge(emptied)
        return keep

    def _erase_again_if_erased_meanwhile(self, run: list[Entry]) -> None:
        """A customer erased between `_drop_erased` and the write was just written back: erase
        them again (before the acknowledgement, so a crash here retries the entry and drops it)."""
        from crm.ingest.erasure import erase_again, erasure_times

        erased = erasure_times(self.db, {r.customer_id for e in run for r in e.records})
        late = {
            r.customer_id
            for e in run
            for r in e.records
            if r.customer_id in erased and erased[r.customer_id] >= _accepted_at(e)
        }
        for customer_id in sorted(late):
            erase_again(self.db, customer_id)
            log.info("customer erased while their queued batch was written: erased again")
        self.stats.dropped_erased += sum(1 for e in run for r in e.records if r.customer_id in late)

    def _write_run(self, run: list[Entry]) -> None:
        try:
            refused = self._write(run)
        except Exception as exc:  # noqa: BLE001 - any failure is retried, then dead-lettered
            refused = f"{type(exc).__name__}: {exc}"
        if refused is None:
            self._erase_again_if_erased_meanwhile(run)
            self._acknowledge(run)
        elif len(run) > 1:
            for entry in run:  # find the entries at fault; the others go through
                self._write_run([entry])
        else:
            self._failed(run[0], EntryFailed(refused))

    def _write(self, run: list[Entry]) -> str | None:
        """Write the run's records; returns why it refused to, or None when written."""
        kind = run[0].kind
        records = [r for entry in run for r in entry.records]  # no id twice: see _handle
        if kind == "orders":
            # Checked again here: a customer may have been deleted since the API accepted the order.
            missing = check_customers_exist(self.db, records)
            if missing:
                return "; ".join(dict.fromkeys(e.reason for e in missing[:100]))
        by_source: dict[str, list[Record]] = {}
        for entry in run:
            by_source.setdefault(entry.fields.get("source") or "queued API write", []).extend(entry.records)
        for source, records in by_source.items():
            write_records(self.db, kind, records, origin=ConsentSource(source, utc_now()))
        return None

    def _acknowledge(self, run: list[Entry]) -> None:
        ids = [entry.entry_id for entry in run]
        with self.client.pipeline(transaction=True) as pipe:
            pipe.xack(self.keys.stream, self.keys.group, *ids)
            pipe.xdel(self.keys.stream, *ids)
            self._forget_queued_customers(pipe, run)
            pipe.execute()
        self.stats.written += len(run)

    def _forget_queued_customers(self, pipe: Pipeline, entries: list[Entry]) -> None:
        ids = [r.customer_id for e in entries if e.kind == "customers" for r in e.records]
        ids += [cid for e in entries if e.kind == "customers" for cid in e.erased]
        if ids:
            pipe.srem(self.keys.queued_customers, *ids)

    def _failed(self, entry: Entry, exc: EntryFailed) -> None:
        if exc.permanent or entry.deliveries >= self.max_attempts:
            self._dead_letter(entry, exc.reason)
            return
        # Left pending: XAUTOCLAIM hands it out again after claim_idle_ms.
        self.stats.failed += 1
        log.warning(
            "stream entry %s failed (attempt %d of %d): %s",
            entry.entry_id,
            entry.deliveries,
            self.max_attempts,
            exc.reason,
        )

    def _dead_letter(self, entry: Entry, reason: str) -> None:
        fields: NewFields = {
            "original_id": entry.entry_id,
            "kind": str(entry.fields.get("kind", "")),
            "rows": str(entry.fields.get("rows", "")),
            "count": str(entry.fields.get("count", "")),
            "accepted_at": str(entry.fields.get("accepted_at", "")),
            "source": str(entry.fields.get("source", "")),
            "error": reason[:2000],
            "attempts": str(entry.deliveries),
            "failed_at": now_text(),
        }
        with self.client.pipeline(transaction=True) as pipe:
            pipe.xadd(self.keys.dead_letter, fields)
            pipe.xack(self.keys.stream, self.keys.group, entry.entry_id)
            pipe.xdel(self.keys.stream, entry.entry_id)
            self._forget_queued_customers(pipe, [entry])
            pipe.execute()
        self.stats.dead_lettered += 1
        log.error("stream entry %s moved to the dead-letter stream: %s", entry.entry_id, reason)


def _accepted_at(entry: Entry) -> datetime:
    """When the API accepted the entry's batch: its `accepted_at`, else the entry id's time."""
    try:
        return datetime.fromisoformat(entry.fields["accepted_at"])
    except (KeyError, TypeError, ValueError):
        return datetime.fromtimestamp(int(entry.entry_id.split("-")[0]) / 1000, UTC)
