"""One spelling per city: a city that differs from one already in the workspace only in case or
spacing ("mumbai ", "MUMBAI", "Navi  Mumbai") is stored with the workspace's spelling, so the
builder offers one Mumbai and `city = "Mumbai"` finds everyone in it.

The first spelling a workspace sees of a city becomes its spelling, kept in `city_spellings`
(key -> spelling), so a write looks up only the few cities of its batch instead of reading every
customer's city. Spellings that differ by more than case and spacing ("Bombay", "Bengaluru" and
"Bangalore") stay different cities: merging them is a decision for a person, not for an import.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pymongo import UpdateOne

from crm.ingest.records import CustomerRecord, Record
from crm.store.documents import Database
from crm.store.schema import IN_QUERY_CHUNK


def city_key(city: str) -> str:
    """What two spellings of one city share: lower case (Unicode-aware), single spaces."""
    return " ".join(city.casefold().split())


def known_spellings(db: Database, keys: Iterable[str]) -> dict[str, str]:
    """The workspace's spelling of each of these city keys it knows."""
    wanted = list(dict.fromkeys(keys))
    known: dict[str, str] = {}
    for start in range(0, len(wanted), IN_QUERY_CHUNK):
        cursor = db.city_spellings.find({"_id": {"$in": wanted[start : start + IN_QUERY_CHUNK]}})
        known.update((doc["_id"], doc["spelling"]) for doc in cursor)
    return known


def register_spellings(db: Database, spellings: dict[str, str]) -> None:
    """Record these key -> spelling pairs where the key is new (another writer's first wins)."""
    if spellings:
        db.city_spellings.bulk_write(
            [
                UpdateOne({"_id": key}, {"$setOnInsert": {"spelling": city}}, upsert=True)
                for key, city in spellings.items()
            ],
            ordered=False,
        )


def respelled(records: Sequence[Record], spellings: dict[str, str]) -> list[Record]:
    """The records with each city in its workspace spelling (others unchanged)."""
    out: list[Record] = []
    for record in records:
        city = record.city if isinstance(record, CustomerRecord) else None
        spelling = spellings.get(city_key(city)) if city else None
        out.append(record.model_copy(update={"city": spelling}) if spelling and spelling != city else record)
    return out


def with_workspace_spellings(db: Database, records: Sequence[Record], register: bool = True) -> list[Record]:
    """Customer records with the workspace's city spellings; a city new to it takes the first
    spelling this batch uses (spaces made single), registered unless `register` is False (a
    preview shows what an import would store, and stores nothing)."""
    firsts: dict[str, str] = {}
    for record in records:
        if isinstance(record, CustomerRecord) and record.city:
            firsts.setdefault(city_key(record.city), " ".join(record.city.split()))
    if not firsts:
        return list(records)
    known = known_spellings(db, firsts)
    new = {key: city for key, city in firsts.items() if key not in known}
    if new and register:
        register_spellings(db, new)
        new = known_spellings(db, new)  # read back: a concurrent writer may have won
    return respelled(records, {**new, **known})
