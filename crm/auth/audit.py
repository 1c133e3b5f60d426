"""The audit log: who did what, when, to what. Admins read it on the Settings page."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from pymongo import DESCENDING

from crm.store.documents import Database


class AuditEntry(BaseModel):
    at: datetime
    username: str
    role: str = ""
    action: str
    target: str = ""
    details: dict[str, Any] = Field(default_factory=dict)


class AuditFilter(BaseModel):
    """What to look for; every field is optional and they combine with AND."""

    username: str | None = None
    action: str | None = None  # exact ("signin") or a prefix ending in "." ("apikey.")
    target_contains: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = Field(default=500, ge=1, le=10_000)


def _who(user: Any) -> tuple[str, str]:
    if user is None:
        return "anonymous", ""
    if isinstance(user, str):
        return user, ""
    return str(getattr(user, "username", user)), str(getattr(user, "role", "") or "")


def record(
    user: Any, action: str, target: str = "", details: dict[str, Any] | None = None, *, db: Database
) -> AuditEntry:
    """Append one entry. `user` is a signed-in user, an API-key principal, a name or None."""
    username, role = _who(user)
    entry = AuditEntry(
        at=datetime.now(UTC),
        username=username,
        role=role,
        action=action,
        target=str(target or ""),
        details=details or {},
    )
    db["audit_log"].insert_one(entry.model_dump())
    return entry


def query(filters: AuditFilter | dict | None = None, *, db: Database) -> list[AuditEntry]:
    """Entries matching `filters`, newest first."""
    f = filters if isinstance(filters, AuditFilter) else AuditFilter.model_validate(filters or {})
    match: dict[str, Any] = {}
    if f.username:
        match["username"] = {"$regex": f"^{re.escape(f.username.strip())}$", "$options": "i"}
    if f.action:
        action = f.action.strip()
        match["action"] = {"$regex": "^" + re.escape(action)} if action.endswith(".") else action
    if f.target_contains:
        match["target"] = {"$regex": re.escape(f.target_contains.strip()), "$options": "i"}
    if f.since or f.until:
        match["at"] = {}
        if f.since:
            match["at"]["$gte"] = f.since
        if f.until:
            match["at"]["$lte"] = f.until
    cursor = db["audit_log"].find(match, {"_id": 0})
    return [AuditEntry.model_validate(doc) for doc in cursor.sort("at", DESCENDING).limit(f.limit)]


def actions_seen(*, db: Database) -> list[str]:
    """Distinct actions in the log (choices for the viewer's filter)."""
    return sorted(db["audit_log"].distinct("action"))
