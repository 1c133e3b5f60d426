"""Stored customers brought to today's normal forms, once per workspace: genders as female /
male / other, phones as E.164 and one spelling per city, as every import and API write now
stores them. Without it a workspace imported earlier would keep `F` beside `female` and
"98765 43210" beside "+919876543210".

A value that cannot be read for sure (an unknown word, "not given", a number without a country
code that is not an Indian mobile) stays as it was and is counted: nothing is thrown away.
`serve`, `api` and `import` run this at start, `python -m crm db migrate` on demand; a marker
in `migrations` makes later runs a single lookup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pymongo import UpdateOne

from crm.formats.gender import GENDERS, UnknownGender, normalise_gender
from crm.ingest.city_spellings import city_key, known_spellings, register_spellings
from crm.ingest.values import INDIAN_MOBILE, e164
from crm.store.clock import utc_now
from crm.store.documents import Database

NORMALISED_VALUES = "normalised-values-1"
BATCH = 1_000


@dataclass
class MigrationReport:
    name: str
    already_done: bool = False
    customers_changed: int = 0
    left_as_they_were: dict[str, int] = field(default_factory=dict)  # field -> values we could not read

    def as_dict(self) -> dict[str, object]:
        return {
            "migration": self.name,
            "already_done": self.already_done,
            "customers_changed": self.customers_changed,
            "left_as_they_were": self.left_as_they_were,
        }


def _changes(doc: dict[str, Any], phone_region: str, report: MigrationReport) -> dict[str, Any]:
    """The normal forms of one stored customer's gender and phone that can be read for sure."""
    changes: dict[str, Any] = {}
    gender, phone = doc.get("gender"), doc.get("phone")
    if isinstance(gender, str) and gender not in GENDERS:
        try:
            read = normalise_gender(gender)
        except UnknownGender:
            read = None
        if read is None:  # unknown words and "not given" ones alike stay as they were
            report.left_as_they_were["gender"] = report.left_as_they_were.get("gender", 0) + 1
        else:
            changes["gender"] = read
    if isinstance(phone, str):
        # Only numbers whose country is certain: with a +country code, or an Indian mobile in an
        # Indian workspace. A bare 2125550100 may be New York's: the region setting is not proof.
        certain = phone.strip().startswith("+") or (phone_region == "IN" and INDIAN_MOBILE.fullmatch(phone.strip()))
        read = e164(phone.strip(), phone_region) if certain else None
        if read is None:
            report.left_as_they_were["phone"] = report.left_as_they_were.get("phone", 0) + 1
        elif read != phone:
            changes["phone"] = read
    return changes


def _one_spelling_per_city(db: Database, touched: set[object]) -> int:
    """Register each stored city's most used spelling and give it to its other spellings; the
    customers changed that `touched` (changed already) does not hold."""
    counts = db.customers.aggregate(
        [{"$match": {"city": {"$type": "string"}}}, {"$group": {"_id": "$city", "n": {"$sum": 1}}}]
    )
    by_key: dict[str, list[tuple[int, str]]] = {}
    for row in counts:
        if row["_id"].strip():
            by_key.setdefault(city_key(row["_id"]), []).append((row["n"], row["_id"]))
    # Most customers first, then the alphabetically first spelling: the same choice on every run.
    chosen = {key: min(spellings, key=lambda pair: (-pair[0], pair[1]))[1] for key, spellings in by_key.items()}
    register_spellings(db, chosen)
    chosen.update(known_spellings(db, chosen))  # a spelling registered before wins
    changed: set[object] = set()
    for key, spellings in by_key.items():
        others = [city for _, city in spellings if city != chosen[key]]
        if others:
            changed |= {doc["_id"] for doc in db.customers.find({"city": {"$in": others}}, {"_id": 1})}
            update = {"$set": {"city": chosen[key], "updated_at": utc_now()}}
            db.customers.update_many({"city": {"$in": others}}, update)
    return len(changed - touched)


def normalise_stored_customers(db: Database, phone_region: str) -> MigrationReport:
    """Once per workspace: each stored gender and phone in the form an import would store now."""
    report = MigrationReport(NORMALISED_VALUES)
    if db.migrations.find_one({"_id": NORMALISED_VALUES}) is not None:
        report.already_done = True
        return report
    candidates = db.customers.find(
        {
            "$or": [
                {"gender": {"$nin": [*GENDERS, None]}},
                {"phone": {"$nin": [None], "$not": {"$regex": r"^\+[1-9][0-9]{6,14}$"}}},
            ]
        },
        {"_id": 1, "gender": 1, "phone": 1},
    )
    updates: list[UpdateOne] = []
    touched: set[object] = set()
    for doc in candidates:
        changes = _changes(doc, phone_region, report)
        if changes:
            # The filter holds the values read: a write that lands meanwhile is never overwritten.
            # updated_at moves: the analytic copy catches up by its watermark like after any write.
            expected = {"_id": doc["_id"], "gender": doc.get("gender"), "phone": doc.get("phone")}
            updates.append(UpdateOne(expected, {"$set": {**changes, "updated_at": utc_now()}}))
            touched.add(doc["_id"])
        if len(updates) == BATCH:
            report.customers_changed += db.customers.bulk_write(updates, ordered=False).modified_count
            updates = []
    if updates:
        report.customers_changed += db.customers.bulk_write(updates, ordered=False).modified_count
    report.customers_changed += _one_spelling_per_city(db, touched)
    db.migrations.update_one(
        {"_id": NORMALISED_VALUES},
        {"$setOnInsert": {"done_at": utc_now(), "report": report.as_dict()}},
        upsert=True,
    )
    if report.customers_changed:
        from crm import analytics

        analytics.after_write("customers")
    return report
