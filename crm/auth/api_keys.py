"""API key create and revoke on behalf of someone: the permission check and the audit entry
around crm.apikeys (which stores the keys)."""

from __future__ import annotations

from crm import apikeys, audit
from crm.auth.permissions import Principal, require
from crm.store import get_db
from crm.store.documents import Database


def create(actor: Principal, name: str, *, db: Database | None = None) -> tuple[apikeys.ApiKey, str]:
    """A new key; returns its record and the clear key, which is never shown again."""
    require(actor, "apikey.create")
    db = db if db is not None else get_db()
    key, clear = apikeys.create_key(db, name)
    audit.record(actor, "apikey.create", key.name, {"prefix": key.prefix}, db=db)
    return key, clear


def revoke(actor: Principal, name_or_prefix: str, *, db: Database | None = None) -> apikeys.ApiKey:
    require(actor, "apikey.revoke")
    db = db if db is not None else get_db()
    key = apikeys.revoke_key(db, name_or_prefix)
    audit.record(actor, "apikey.revoke", key.name, {"prefix": key.prefix}, db=db)
    return key
