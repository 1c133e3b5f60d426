"""API keys: created once and shown once, stored only as a SHA-256 hash, revocable.

A key is 32 random bytes (url-safe base64) behind a short `crm_` marker. Because it is that
random, one round of SHA-256 is enough to store it: nobody can guess a preimage, so a slow
password hash would only slow down every request. The clear key exists only in `create_key`'s
return value; the first characters (the prefix) are stored too, so people can tell keys apart.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from crm.auth import audit
from crm.auth.permissions import API_KEY_ROLE, Principal, require
from crm.errors import Conflict, InvalidInput, NotFound
from crm.store.clock import utc_now
from crm.store.documents import Database

KEY_MARKER = "crm_"
PREFIX_CHARS = 12  # marker + 8 random characters: enough to tell keys apart, useless to guess
LAST_USED_EVERY_SECONDS = 60  # write last_used_at at most this often per key, not per request

_last_used_written: dict[str, float] = {}
_last_used_lock = threading.Lock()


@dataclass(frozen=True)
class ApiKey:
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    # A key acts as a principal of its own (crm.auth.permissions): named by its name, never by
    # the key, with the role that lets it ingest and erase.
    @property
    def username(self) -> str:
        return f"api key {self.name}"

    @property
    def role(self) -> str:
        return API_KEY_ROLE

    @property
    def active(self) -> bool:
        return not self.revoked

    @classmethod
    def from_document(cls, doc: dict) -> ApiKey:
        return cls(
            name=doc["name"],
            prefix=doc["prefix"],
            created_at=doc["created_at"],
            last_used_at=doc.get("last_used_at"),
            revoked_at=doc.get("revoked_at"),
        )


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(db: Database, name: str) -> tuple[ApiKey, str]:
    """A new key for `name`; returns its record and the clear key (the only time it exists)."""
    name = name.strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise InvalidInput("name", "give the key a name of 1-100 printable characters")
    if db.api_keys.find_one({"name": name, "revoked_at": None}):
        raise Conflict(f"an active key named {name!r} exists; revoke it or choose another name")
    key = KEY_MARKER + secrets.token_urlsafe(32)
    doc = {
        "name": name,
        "prefix": key[:PREFIX_CHARS],
        "key_hash": hash_key(key),
        "created_at": utc_now(),
        "last_used_at": None,
        "revoked_at": None,
    }
    db.api_keys.insert_one(doc)
    return ApiKey.from_document(doc), key


def list_keys(db: Database) -> list[ApiKey]:
    return [ApiKey.from_document(d) for d in db.api_keys.find({}, {"key_hash": 0}).sort("created_at", 1)]


def revoke_key(db: Database, name_or_prefix: str) -> ApiKey:
    """Revoke the one active key with this name or prefix."""
    wanted = name_or_prefix.strip()
    if not wanted:
        raise InvalidInput("key", "name or prefix of the key to revoke is empty")
    matches = list(db.api_keys.find({"revoked_at": None, "$or": [{"name": wanted}, {"prefix": wanted}]}))
    if not matches:
        raise NotFound(f"no active API key has the name or prefix {wanted!r}")
    if len(matches) > 1:
        raise Conflict(f"{wanted!r} matches {len(matches)} active keys; give the prefix instead")
    revoked_at = utc_now()
    db.api_keys.update_one({"_id": matches[0]["_id"]}, {"$set": {"revoked_at": revoked_at}})
    return ApiKey.from_document({**matches[0], "revoked_at": revoked_at})


def verify_key(db: Database, presented: str) -> ApiKey | None:
    """The active key matching `presented`, or None; notes when it was last used."""
    if not presented.startswith(KEY_MARKER) or len(presented) > 200:
        return None
    digest = hash_key(presented)
    doc = db.api_keys.find_one({"key_hash": digest, "revoked_at": None})
    # The lookup is by hash; compare again in constant time so the check never depends on
    # how the database compares strings.
    if doc is None or not hmac.compare_digest(doc["key_hash"], digest):
        return None
    _note_use(db, doc)
    return ApiKey.from_document(doc)


def _note_use(db: Database, doc: dict) -> None:
    now = time.monotonic()
    with _last_used_lock:
        if now - _last_used_written.get(doc["key_hash"], -LAST_USED_EVERY_SECONDS) < LAST_USED_EVERY_SECONDS:
            return
        _last_used_written[doc["key_hash"]] = now
    db.api_keys.update_one({"_id": doc["_id"]}, {"$set": {"last_used_at": utc_now()}})


# On behalf of someone: the permission check and the audit entry around the functions above.
def create(actor: Principal, name: str, *, db: Database) -> tuple[ApiKey, str]:
    """A new key; returns its record and the clear key, which is never shown again."""
    require(actor, "apikey.create")
    key, clear = create_key(db, name)
    audit.record(actor, "apikey.create", key.name, {"prefix": key.prefix}, db=db)
    return key, clear


def revoke(actor: Principal, name_or_prefix: str, *, db: Database) -> ApiKey:
    require(actor, "apikey.revoke")
    key = revoke_key(db, name_or_prefix)
    audit.record(actor, "apikey.revoke", key.name, {"prefix": key.prefix}, db=db)
    return key
