"""The dead-letter stream: entries the worker gave up on, listed, replayed, or scrubbed of an
erased customer's rows."""

from __future__ import annotations

import json
from collections.abc import Sequence

import redis

from crm.errors import NotFound
from crm.ingest.redis_queue import Fields, NewFields, StreamKeys, entries_of


def list_dead_letters(client: redis.Redis, keys: StreamKeys, limit: int = 100) -> list[Fields]:
    """Dead-lettered entries, oldest first, without their rows."""
    return [
        {"id": entry_id, **{k: v for k, v in fields.items() if k != "rows"}}
        for entry_id, fields in entries_of(client.xrange(keys.dead_letter, count=limit))
    ]


def scrub_dead_letters(client: redis.Redis, keys: StreamKeys, customer_id: str) -> int:
    """Remove an erased customer's rows (and orders) from the dead-letter stream; returns how many.

    An entry is immutable, so one that held them is replaced by a copy without them (or deleted
    when nothing else was in it), in one transaction each."""
    removed = 0
    for entry_id, fields in entries_of(client.xrange(keys.dead_letter)):
        try:
            rows = json.loads(fields.get("rows", ""))
        except ValueError:
            continue  # a corrupt entry holds no rows we can read, or replay
        if not isinstance(rows, list):
            continue
        kept = [r for r in rows if not (isinstance(r, dict) and str(r.get("customer_id", "")).strip() == customer_id)]
        if len(kept) == len(rows):
            continue
        with client.pipeline(transaction=True) as pipe:
            if kept:
                copy: NewFields = {
                    **{name: value for name, value in fields.items()},
                    "rows": json.dumps(kept, ensure_ascii=False),
                    "count": str(len(kept)),
                    "scrubbed_from": entry_id,
                }
                pipe.xadd(keys.dead_letter, copy)
            pipe.xdel(keys.dead_letter, entry_id)
            pipe.execute()
        removed += len(rows) - len(kept)
    return removed


def replay_dead_letters(client: redis.Redis, keys: StreamKeys, ids: Sequence[str] | None = None) -> list[str]:
    """Queue dead-lettered entries again (all, or those with these ids); returns the new ids."""
    if ids:
        entries: list[tuple[str, Fields]] = []
        for entry_id in ids:
            found = entries_of(client.xrange(keys.dead_letter, entry_id, entry_id))
            if not found:
                raise NotFound(f"no dead-letter entry {entry_id!r}; see `python -m crm deadletter list`")
            entries += found
    else:
        entries = entries_of(client.xrange(keys.dead_letter))
    new_ids = []
    for entry_id, fields in entries:
        again: NewFields = {
            "kind": fields.get("kind", ""),
            "rows": fields.get("rows", ""),
            "count": fields.get("count", ""),
            "accepted_at": fields.get("accepted_at", ""),
            "source": fields.get("source", ""),
            "replayed_from": entry_id,
        }
        with client.pipeline(transaction=True) as pipe:
            pipe.xadd(keys.stream, again)
            pipe.xdel(keys.dead_letter, entry_id)
            new_ids.append(str(pipe.execute()[0]))
    return new_ids
