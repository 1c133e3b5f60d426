"""The workspace's rules for sending, kept in MongoDB so that every process (UI, CLI, serve)
applies the same ones: today the frequency cap, at most N messages per customer in D days.

Off by default: a workspace that sets nothing sends exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crm.auth import audit
from crm.auth.permissions import Principal, requires
from crm.errors import InvalidInput
from crm.store.clock import utc_now
from crm.store.documents import Database

COLLECTION, DOC_ID = "workspace", "sending_rules"
MAX_MESSAGES, MAX_DAYS = 100, 90
SUGGESTED = (3, 7)  # three messages a week: what most brands' own research settles on


@dataclass(frozen=True)
class FrequencyCap:
    """At most `messages` per customer in any `days` days: on every channel together, or on each
    channel apart (a customer may then get N SMS and N emails)."""

    messages: int
    days: int
    across_channels: bool = True

    def __post_init__(self) -> None:
        for value, name, top in ((self.messages, "messages", MAX_MESSAGES), (self.days, "days", MAX_DAYS)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
                raise InvalidInput(
                    f"frequency cap {name}",
                    f"a whole number from 1 to {top}, got {value!r}; 3 messages in 7 days is a good start",
                )

    def describe(self) -> str:
        where = "on all channels together" if self.across_channels else "on each channel"
        return f"at most {self.messages} message(s) per customer in {self.days} day(s), {where}"

    def as_document(self) -> dict[str, Any]:
        return {"messages": self.messages, "days": self.days, "across_channels": self.across_channels}


def frequency_cap(db: Database) -> FrequencyCap | None:
    """The cap in force, or None (off)."""
    doc = db[COLLECTION].find_one({"_id": DOC_ID}) or {}
    cap = doc.get("frequency_cap")
    return FrequencyCap(**cap) if cap else None


@requires("settings.sending")
def set_frequency_cap(db: Database, cap: FrequencyCap | None, *, by: Principal) -> None:
    """Set the cap (None: off); campaigns that start from now on apply it."""
    before = frequency_cap(db)
    value = cap.as_document() if cap else None
    changes = {"frequency_cap": value, "updated_at": utc_now(), "updated_by": by.username}
    db[COLLECTION].update_one({"_id": DOC_ID}, {"$set": changes}, upsert=True)
    audit.record(
        by,
        "settings.sending",
        "frequency cap",
        {"before": before.as_document() if before else None, "after": value},
        db=db,
    )
