"""CRUD of saved segments in the MongoDB `segments` collection (names are unique).

Each change is checked (`require`) and written to the audit log here, so it is recorded
whichever page, API route or command asked for it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pydantic import BaseModel
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from crm.auth import audit
from crm.auth.permissions import Principal, require
from crm.errors import Conflict, InvalidInput, NotFound
from crm.ingest.attribute_registry import workspace_catalogue
from crm.store.clock import utc_now
from crm.store.documents import Database
from crm.store.ids import parse_object_id

MAX_NAME_LENGTH = 120


class SavedSegment(BaseModel):
    id: str
    name: str
    rules: dict[str, Any]
    description: str
    owner: str | None = None
    last_count: int | None = None
    last_counted_at: datetime | None = None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> SavedSegment:
        return cls(id=str(doc["_id"]), **{k: v for k, v in doc.items() if k != "_id"})


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise InvalidInput("name", "a segment needs a name")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput("name", f"at most {MAX_NAME_LENGTH} characters, got {len(name)}")
    _storable("name", name)
    return name


def _storable(where: str, text: str | None) -> None:
    """Half a character (a lone surrogate) cannot be stored: say so instead of failing to."""
    from crm.segment_engine.model import unpaired_surrogate

    at = unpaired_surrogate(text) if text else None
    if at is not None:
        raise InvalidInput(
            where,
            f"has a lone surrogate at position {at}, which is half of a character; "
            "remove it or send the whole character",
        )


def _checked_rules(db: Database, rules: Any) -> tuple[dict[str, Any], str]:
    """The rule as stored (validated against the workspace's fields, normalised) and its English."""
    from crm.segment_engine import describe_rule, parse_rule

    group = parse_rule(rules, workspace_catalogue(db))
    return group.to_json(), describe_rule(group)


def _object_id(segment_id: str) -> ObjectId:
    return parse_object_id(segment_id, "segment")


def _taken(name: str) -> Conflict:
    return Conflict(f"a segment named {name!r} already exists; choose another name")


def _insert(db: Database, name: str, rules: Any, owner: str | None, description: str | None) -> SavedSegment:
    name = _clean_name(name)
    _storable("description", description)
    stored_rules, english = _checked_rules(db, rules)
    now = utc_now()
    doc = {
        "name": name,
        "rules": stored_rules,
        "description": description or english,
        "owner": owner,
        "last_count": None,
        "last_counted_at": None,
        "created_at": now,
        "updated_at": now,
    }
    try:
        db.segments.insert_one(doc)
    except DuplicateKeyError as exc:
        raise _taken(name) from exc
    return SavedSegment.from_document(doc)


def create_segment(
    db: Database, name: str, rules: Any, owner: str | None = None, description: str | None = None, *, by: Principal
) -> SavedSegment:
    """A new saved segment; `by` (who acts) must be allowed to save segments."""
    require(by, "segment.save")
    segment = _insert(db, name, rules, owner, description)
    audit.record(
        by, "segment.save", segment.name, {"id": segment.id, "new": True, "description": segment.description}, db=db
    )
    return segment


def get_segment(db: Database, segment_id: str) -> SavedSegment:
    doc = db.segments.find_one({"_id": _object_id(segment_id)})
    if doc is None:
        raise NotFound(f"no segment with id {segment_id!r}")
    return SavedSegment.from_document(doc)


def get_segment_by_name(db: Database, name: str) -> SavedSegment:
    doc = db.segments.find_one({"name": name})
    if doc is None:
        raise NotFound(f"no segment named {name!r}")
    return SavedSegment.from_document(doc)


def list_segments(db: Database, owner: str | None = None) -> list[SavedSegment]:
    query = {} if owner is None else {"owner": owner}
    return [SavedSegment.from_document(d) for d in db.segments.find(query).sort("name", 1)]


def update_segment(
    db: Database,
    segment_id: str,
    *,
    name: str | None = None,
    rules: Any = None,
    description: str | None = None,
    by: Principal,
) -> SavedSegment:
    """Rename and/or change rules; new rules get a new description and forget the old count."""
    require(by, "segment.save")
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = _clean_name(name)
    if rules is not None:
        changes["rules"], changes["description"] = _checked_rules(db, rules)
        changes["last_count"] = changes["last_counted_at"] = None
    if description is not None:
        _storable("description", description)
        changes["description"] = description
    if not changes:
        return get_segment(db, segment_id)
    changes["updated_at"] = utc_now()
    try:
        before = db.segments.find_one_and_update(
            {"_id": _object_id(segment_id)}, {"$set": changes}, return_document=ReturnDocument.BEFORE
        )
    except DuplicateKeyError as exc:
        raise _taken(changes["name"]) from exc
    if before is None:
        raise NotFound(f"no segment with id {segment_id!r}")
    segment = SavedSegment.from_document({**before, **changes})
    if segment.name != before["name"]:
        audit.record(by, "segment.rename", segment.name, {"id": segment.id, "from": before["name"]}, db=db)
    if rules is not None or description is not None:
        audit.record(by, "segment.save", segment.name, {"id": segment.id, "description": segment.description}, db=db)
    return segment


def duplicate_segment(
    db: Database, segment_id: str, new_name: str | None = None, owner: str | None = None, *, by: Principal
) -> SavedSegment:
    """A copy with the same rules; without a name, "<name> (copy)", "<name> (copy 2)", ..."""
    require(by, "segment.save")
    original = get_segment(db, segment_id)
    candidates = (
        [new_name]
        if new_name is not None
        else [f"{original.name} (copy)" if n == 1 else f"{original.name} (copy {n})" for n in range(1, 1000)]
    )
    for candidate in candidates:
        try:
            copy = _insert(db, candidate, original.rules, owner or original.owner, original.description)
        except Conflict:
            if new_name is not None:
                raise
            continue
        audit.record(
            by, "segment.duplicate", copy.name, {"id": copy.id, "from": original.name, "from_id": original.id}, db=db
        )
        return copy
    raise Conflict(f"too many copies of {original.name!r}; name the copy yourself")


def delete_segment(db: Database, segment_id: str, *, by: Principal) -> None:
    require(by, "segment.delete")
    doc = db.segments.find_one_and_delete({"_id": _object_id(segment_id)})
    if doc is None:
        raise NotFound(f"no segment with id {segment_id!r}")
    audit.record(by, "segment.delete", doc["name"], {"id": segment_id, "description": doc.get("description")}, db=db)


def record_count(db: Database, segment_id: str, count: int, counted_at: datetime | None = None) -> None:
    """Remember the audience size last counted for a saved segment."""
    result = db.segments.update_one(
        {"_id": _object_id(segment_id)},
        {"$set": {"last_count": int(count), "last_counted_at": counted_at or utc_now()}},
    )
    if result.matched_count == 0:
        raise NotFound(f"no segment with id {segment_id!r}")
