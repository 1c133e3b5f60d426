"""The workspace's custom attributes: registered once (key, label, kind), then read by every import,
API write, the analytic copy and the rule catalogue.

A registration is never changed or dropped by an import: a file that names an attribute with
another kind is refused (a rule saved on a text attribute must not start reading numbers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo.errors import DuplicateKeyError

from crm.auth import audit
from crm.auth.permissions import Principal, requires
from crm.errors import Conflict, InvalidInput
from crm.segment_engine.attributes import MAX_ATTRIBUTES, Attribute, catalogue_with, key_for, kind_of
from crm.segment_engine.catalogue import Catalogue
from crm.store.clock import utc_now
from crm.store.documents import Database

COLLECTION = "attributes"


def registered(db: Database) -> tuple[Attribute, ...]:
    """The workspace's attributes, in the order they were registered."""
    docs = db[COLLECTION].find({}, {"_id": 0, "key": 1, "label": 1, "kind": 1}).sort([("registered_at", 1), ("key", 1)])
    return tuple(Attribute(doc["key"], doc["label"], doc["kind"]) for doc in docs)


def workspace_catalogue(db: Database) -> Catalogue:
    """The fields this workspace's rules may name: the built-in ones and its attributes."""
    return catalogue_with(registered(db))


def parse_spec(text: str) -> tuple[str, str]:
    """ "Loyalty Tier=text" -> ("Loyalty Tier", "text"): a column heading and a kind."""
    label, sign, kind = text.rpartition("=")
    if not sign or not label.strip() or not kind.strip():
        raise InvalidInput(
            "--attribute",
            f'{text!r} should be COLUMN=TYPE, e.g. "Loyalty Tier=text" (types: text, number, date, yes/no, list)',
        )
    return label.strip(), kind_of(kind)


def planned(db: Database, specs: Sequence[tuple[str, str]]) -> list[Attribute]:
    """The attributes (column heading, kind) would be, registered or not, without writing:
    an import checks its file against them and registers the new ones only when it writes."""
    out: list[Attribute] = []
    for label, kind in specs:
        kind, key = kind_of(kind), key_for(label, _export_columns())
        existing = _find(db, key)
        if existing is not None and existing.kind != kind:
            raise _other_kind(existing, kind)
        out.append(existing or Attribute(key, label.strip(), kind))
    known = {a.key for a in registered(db)}
    new = {a.key for a in out} - known
    if len(known) + len(new) > MAX_ATTRIBUTES:
        raise InvalidInput(
            "attribute",
            f"this workspace has {len(known)} attributes and may have {MAX_ATTRIBUTES}: "
            f"the file would add {len(new)}; keep fewer columns",
        )
    return out


def _export_columns() -> frozenset[str]:
    """The audience export's own columns: no attribute may be named like one."""
    from crm.analytics.audience_columns import COLUMNS

    return frozenset(COLUMNS)


@requires("data.import")
def register_attribute(db: Database, label: str, kind: str, *, by: Principal) -> Attribute:
    """Register the attribute a column heading names (or return it when it is registered with
    this kind already); Conflict when it is registered with another kind."""
    kind = kind_of(kind)
    key = key_for(label, _export_columns())
    existing = _find(db, key)
    if existing is None:
        if db[COLLECTION].count_documents({}) >= MAX_ATTRIBUTES:
            raise InvalidInput("attribute", f"this workspace has {MAX_ATTRIBUTES} attributes, the most it may have")
        shown = label.strip()
        doc = {"_id": key, "key": key, "label": shown, "kind": kind, "registered_at": utc_now()}
        try:
            db[COLLECTION].insert_one({**doc, "registered_by": by.username})
        except DuplicateKeyError:  # registered meanwhile by another import: checked below
            pass
        else:
            audit.record(by, "attribute.register", key, {"label": shown, "kind": kind}, db=db)
            return Attribute(key, shown, kind)
        existing = _find(db, key)
        assert existing is not None
    if existing.kind != kind:
        raise _other_kind(existing, kind)
    return existing


def _other_kind(existing: Attribute, kind: str) -> Conflict:
    return Conflict(
        f"the attribute {existing.label!r} ({existing.name}) holds {existing.kind} values, not {kind}; "
        f"import the column as {existing.kind}, or under another name"
    )


def _find(db: Database, key: str) -> Attribute | None:
    doc: dict[str, Any] | None = db[COLLECTION].find_one({"_id": key})
    return Attribute(doc["key"], doc["label"], doc["kind"]) if doc else None
