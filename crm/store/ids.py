"""Record ids as users pass them around (text) and as MongoDB keeps them (ObjectId)."""

from __future__ import annotations

from bson import ObjectId
from bson.errors import InvalidId

from crm.errors import NotFound


def parse_object_id(value: str, what: str) -> ObjectId:
    """The ObjectId of `value`; a malformed id names no record, so it is NotFound like a missing one."""
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        raise NotFound(f"no {what} with id {value!r}") from None
