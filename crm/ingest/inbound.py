"""Replies customers send to our SMS and WhatsApp numbers, as the vendor forwards them: a reply
that asks us to stop turns that channel off for every customer with that number.

Stop words are matched on the whole reply, ignoring case, spaces and punctuation, in English
and romanised Hindi as Indian customers type them ("band karo", "mat bhejo"). A reply that only
contains such a word in a sentence ("don't stop the offers!") is not an opt-out: TRAI's and the
carriers' keyword rules match the keyword on its own, and so do we.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from crm.ingest.opt_out import opt_out_contact
from crm.ingest.values import e164
from crm.store.clock import utc_now
from crm.store.documents import Database

log = logging.getLogger("crm.ingest")
INBOUND = "inbound_messages"
STOP_WORDS = frozenset(
    {
        "stop",
        "stop all",
        "stopall",
        "unsubscribe",
        "cancel",
        "end",
        "quit",
        "opt out",
        "optout",
        "band",
        "band karo",
        "band kar do",
        "band kardo",
        "bandh karo",
        "mat bhejo",
        "mat bhejna",
        "nahi chahiye",
        "nahin chahiye",
    }
)
_NOT_LETTERS = re.compile(r"[^a-z0-9]+")


def asks_to_stop(text: str) -> bool:
    return _NOT_LETTERS.sub(" ", text.lower()).strip() in STOP_WORDS


@dataclass(frozen=True)
class InboundResult:
    duplicate: bool
    stop: bool
    opted_out: int


def receive_reply(db: Database, message_id: str, channel: str, sender: str, text: str, region: str) -> InboundResult:
    """Record one reply once (by the vendor's message id) and act on a stop word."""
    if db[INBOUND].find_one({"_id": message_id}, {"_id": 1}) is not None:
        return InboundResult(duplicate=True, stop=False, opted_out=0)  # a retry: done the first time
    phone = e164(sender, region)
    stop = asks_to_stop(text)
    changed = 0
    if stop and phone is not None:
        changed = opt_out_contact(db, phone, channel, f"{channel} reply {text.strip()[:40]!r}")
    elif stop:
        log.warning("a stop reply from %r is no phone number we can match; nobody was opted out", sender[:40])
    # Recorded once acted on: should the opt-out fail, the vendor's retry does it (it is idempotent).
    doc = {"_id": message_id, "channel": channel, "from": phone or sender, "text": text[:500], "at": utc_now()}
    db[INBOUND].update_one({"_id": message_id}, {"$setOnInsert": doc}, upsert=True)
    return InboundResult(duplicate=False, stop=stop, opted_out=changed)
