"""Writes validated records to MongoDB: bulk-insert the new ones, update only what changed.

Upserts cost about three inserts on the embedded server, so each chunk first asks which ids
exist, inserts the rest with `insert_many`, and sends updates only for records whose fields
differ. Writing the same records again therefore changes nothing, not even `updated_at`.
Once a chunk turns out to be all new, the next ones skip the question and let the unique index
answer it (a duplicate-key error sends that record down the update path).

An update sets only the fields the input carried (a CSV without a `city` column leaves cities
alone; an empty cell clears one). A new record gets every field, missing ones as null.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo import UpdateOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, ConnectionFailure, PyMongoError

from crm.errors import Unavailable
from crm.ingest.city_spellings import with_workspace_spellings
from crm.ingest.consent import CHANNELS, ConsentSource, merged, stored_status
from crm.ingest.records import ID_FIELDS, CustomerRecord, Record, record_to_document
from crm.store.clock import utc_now
from crm.store.documents import Database, Document
from crm.store.schema import IN_QUERY_CHUNK

CHUNK_SIZE = 1000
DUPLICATE_KEY = 11000

Progress = Callable[[int, int], None]


@dataclass
class WriteResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


def _update_fields(record: Record, doc: dict[str, Any]) -> dict[str, Any]:
    """Dotted path -> value for each field the input carried (consent is merged apart)."""
    fields: dict[str, Any] = {}
    for name in record.model_fields_set:
        if name == "consent":
            continue
        elif name == "amount_paise":
            fields["amount"] = doc["amount"]
        elif name == "attributes":  # each one given: a file with one attribute keeps the others
            fields.update({f"attributes.{key}": value for key, value in doc["attributes"].items()})
        else:
            fields[name] = doc[name]
    return fields


def _stored(doc: dict[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _consent_changes(record: Record, stored: Document | None, origin: ConsentSource) -> dict[str, Document]:
    if not isinstance(record, CustomerRecord):
        return {}
    return merged(stored.get("consent") if stored else None, record.consent.carried(), origin)


def _write_chunk(
    collection: Collection[Document],
    id_field: str,
    records: Sequence[Record],
    result: WriteResult,
    look_up: bool = True,
    *,
    origin: ConsentSource,
) -> bool:
    """Write one chunk; True if some of its ids already existed.

    Without `look_up` every record is tried as an insert and the unique index tells which ids
    exist (those are then looked up and updated): the cheap way while the data is all new.
    """
    ids = [getattr(record, id_field) for record in records]
    existing: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids) if look_up else 0, IN_QUERY_CHUNK):
        cursor = collection.find({id_field: {"$in": ids[start : start + IN_QUERY_CHUNK]}}, {"_id": 0})
        existing.update((doc[id_field], doc) for doc in cursor)
    now = utc_now()
    inserts: list[dict[str, Any]] = []
    new_records: list[Record] = []
    updates: list[UpdateOne] = []
    for key, record in zip(ids, records):
        doc = record_to_document(record)
        stored = existing.get(key)
        consent = _consent_changes(record, stored, origin)
        if stored is None:
            if consent:
                doc["consent"] = consent
                doc["consent_history"] = history(consent)
            doc["created_at"] = doc["updated_at"] = now
            inserts.append(doc)
            new_records.append(record)
            continue
        changes = {path: value for path, value in _update_fields(record, doc).items() if _stored(stored, path) != value}
        if any(path.startswith("attributes.") for path in changes) and not isinstance(stored.get("attributes"), dict):
            # null or junk where the object should be: MongoDB cannot set a key inside it
            changes = {p: v for p, v in changes.items() if not p.startswith("attributes.")}
            changes["attributes"] = doc["attributes"]
        if consent and _is_legacy(stored.get("consent")):
            changes["consent"] = {**_legacy_consent(stored.get("consent")), **consent}
        else:
            changes.update({f"consent.{channel}": value for channel, value in consent.items()})
        if changes:
            changes["updated_at"] = now
            update: dict[str, Any] = {"$set": changes}
            if consent:
                update["$push"] = {"consent_history": {"$each": history(consent)}}
            updates.append(UpdateOne({id_field: key}, update))
        else:
            result.unchanged += 1
    raced: list[Record] = []
    if inserts:
        try:
            collection.insert_many(inserts, ordered=False)
            result.inserted += len(inserts)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(err.get("code") != DUPLICATE_KEY for err in errors):
                raise
            # Ids that exist after all (another writer was faster, or we did not look): update.
            raced = [new_records[err["index"]] for err in errors]
            result.inserted += len(inserts) - len(raced)
    if updates:
        collection.bulk_write(updates, ordered=False)
        result.updated += len(updates)
    if raced:
        _write_chunk(collection, id_field, raced, result, origin=origin)
    return bool(existing or raced)


def history(consent: dict[str, Document]) -> list[Document]:
    """The entries a consent change adds to the customer's `consent_history` (oldest first)."""
    return [{"channel": channel, **value} for channel, value in consent.items()]


def _is_legacy(consent: Any) -> bool:
    return not isinstance(consent, dict) or any(not isinstance(value, dict) for value in consent.values())


def _legacy_consent(value: Any) -> Document:
    """A consent sub-document with booleans (before consent tracking) in the stored shape."""
    if not isinstance(value, dict):
        return {}
    return {
        channel: flag
        if isinstance(flag, dict)
        else {"status": stored_status(flag), "source": "before consent tracking", "at": None}
        for channel, flag in value.items()
        if channel in CHANNELS
    }


def write_records(
    db: Database,
    kind: str,
    records: Sequence[Record],
    progress: Progress | None = None,
    origin: ConsentSource | None = None,
) -> WriteResult:
    """Insert new records, update changed ones, leave the rest; then refresh the analytic copy.

    `origin` says where the customers' consent comes from (stamped on each channel it sets) and
    which channels the whole input declared; without it the source is recorded as unstated.
    Cities take the workspace's spelling where only case or spacing differs.
    """
    from crm import analytics

    origin = origin if origin is not None else ConsentSource("not stated", utc_now())
    collection = db[kind]
    id_field = ID_FIELDS[kind]
    result = WriteResult()
    total = len(records)
    look_up = True  # until a chunk turns out all new: then insert first (a lookup costs ~10%)
    try:
        if kind == "customers":
            records = with_workspace_spellings(db, records)
        for start in range(0, total, CHUNK_SIZE):
            look_up = _write_chunk(
                collection, id_field, records[start : start + CHUNK_SIZE], result, look_up, origin=origin
            )
            if progress:
                progress(min(start + CHUNK_SIZE, total), total)
    except ConnectionFailure as exc:
        done = result.inserted + result.updated + result.unchanged
        raise Unavailable(
            f"the database stopped answering while writing {kind} ({done} of {total} "
            f"records written); run the same import again to finish it: {exc}"
        ) from exc
    except PyMongoError as exc:
        raise Unavailable(f"writing {kind} failed: {exc}") from exc
    finally:
        if result.inserted or result.updated:  # partial writes too: the copy follows MongoDB
            analytics.after_write(kind)
    return result
