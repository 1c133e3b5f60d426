"""Back-off after wrong passwords: slows guessing down without ever locking an account for good.

Failures are counted in buckets, each with a number of free failures, after which every further
attempt waits 2, 4, 8 ... seconds, up to 15 minutes:

- one account from one client (5 free): someone guessing at `admin` from elsewhere delays only
  their own attempts, so the real admin, from another client, can still sign in;
- one client over all accounts (20 free): guesses spread over many usernames are slowed too.

A client is the address of the connection as Streamlit sees it (`st.context.ip_address`; None,
for 127.0.0.1 and ::1, counts as "localhost"). Headers are never read here: a client could forge
them. uvicorn (which serves Streamlit) replaces the address with X-Forwarded-For only when the
connection comes from an address in FORWARDED_ALLOW_IPS (default 127.0.0.1 and ::1): a reverse
proxy on the same host, with the UI listening on 127.0.0.1, works as it is; for a proxy
elsewhere, list its address there.

A correct password clears its account-and-client bucket; an admin's unlock and a password reset
clear every bucket of the account. A bucket with no failure for an hour starts again from zero.
Attempts refused during a wait are not checked and not counted.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime, timedelta

from pymongo import ReturnDocument
from pymongo.collection import Collection

from crm.store.documents import Database, Document

ACCOUNT = "account"  # one account from one client
CLIENT = "client"  # one client over all accounts
FREE_FAILURES = {ACCOUNT: 5, CLIENT: 20}
MAX_WAIT_SECONDS = 15 * 60
FORGET_AFTER = timedelta(hours=1)
LOCALHOST = "localhost"


def _collection(db: Database) -> Collection[Document]:
    return db["signin_throttle"]


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def client_name(ip_address: str | None) -> str:
    return (ip_address or "").strip() or LOCALHOST


def _buckets(username: str, client: str) -> list[dict]:
    username = (username or "").strip().lower()[:100]  # what is typed; the key stays small
    return [
        {"kind": ACCOUNT, "username": username, "client": client},
        {"kind": CLIENT, "username": "", "client": client},
    ]


def _id(bucket: dict) -> str:
    return hashlib.sha256(json.dumps([bucket["kind"], bucket["username"], bucket["client"]]).encode()).hexdigest()


def delay_seconds(kind: str, failures: int) -> int:
    """How long a bucket with `failures` waits after its last failure."""
    over = failures - FREE_FAILURES[kind]
    if over < 0:
        return 0
    return min(2 ** min(over + 1, 20), MAX_WAIT_SECONDS)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # MongoDB returns naive UTC


def _remaining(doc: dict | None, now: datetime) -> int:
    if not doc:
        return 0
    last = _aware(doc["last_failure"])
    if now - last >= FORGET_AFTER:
        return 0
    waited = (now - last).total_seconds()
    return max(0, math.ceil(delay_seconds(doc["kind"], int(doc["failures"])) - waited))


def wait_seconds(username: str, client: str, *, now: datetime | None = None, db: Database) -> int:
    """Seconds before `client` may try a password for `username` again; 0 if it may now."""
    now = _now(now)
    docs = _collection(db).find({"_id": {"$in": [_id(b) for b in _buckets(username, client)]}})
    return max((_remaining(doc, now) for doc in docs), default=0)


def note_failure(username: str, client: str, *, now: datetime | None = None, db: Database) -> int:
    """Count a wrong password; returns the wait it starts (0 while failures are still free)."""
    now = _now(now)
    throttle = _collection(db)
    throttle.delete_many({"last_failure": {"$lte": now - FORGET_AFTER}})
    for bucket in _buckets(username, client):
        throttle.find_one_and_update(
            {"_id": _id(bucket)},
            {"$inc": {"failures": 1}, "$set": {**bucket, "last_failure": now}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
    return wait_seconds(username, client, now=now, db=db)


def note_success(username: str, client: str, *, db: Database) -> None:
    """A correct password: this client's failures on this account are forgiven."""
    _collection(db).delete_one({"_id": _id(_buckets(username, client)[0])})


def clear_account(username: str, *, db: Database) -> int:
    """Lift every wait on `username` (unlock, password reset), and on the clients that tried it."""
    throttle = _collection(db)
    username = (username or "").strip().lower()
    clients = [doc["client"] for doc in throttle.find({"kind": ACCOUNT, "username": username}, {"client": 1})]
    cleared = throttle.delete_many({"kind": ACCOUNT, "username": username}).deleted_count
    throttle.delete_many({"kind": CLIENT, "client": {"$in": clients}})
    return cleared


def waiting_accounts(*, now: datetime | None = None, db: Database) -> dict[str, int]:
    """Accounts some client must wait to try, with the longest wait in seconds (for admins)."""
    now = _now(now)
    waits: dict[str, int] = {}
    for doc in _collection(db).find({"kind": ACCOUNT}):
        remaining = _remaining(doc, now)
        if remaining:
            waits[doc["username"]] = max(remaining, waits.get(doc["username"], 0))
    return waits
