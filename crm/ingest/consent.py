"""Consent per channel: `yes`, `no` or `unknown`, with where it came from and when.

Missing consent is unknown, never yes: a campaign messages only customers whose consent for its
channel is `yes` (India's DPDP Act 2023 wants consent that is given, not presumed; TRAI's rules
for promotional SMS likewise). Each stored channel is `{"status", "source", "at"}`.

Which value wins when a customer's consent is written again:
- a value the record itself carries (a consent column of a file, a `consent` field of the API)
  is the source system's current word and replaces what was stored, in either direction;
- consent *declared* for a whole file (`--consent sms,email`) only fills channels that are
  still unknown: it never overrides an explicit `no` (nor an explicit `yes`);
- a customer's own opt-out (an unsubscribe link, a STOP reply, a suppression list:
  `crm.ingest.opt_out`) is never changed by an import or an API write: not to `yes`, and not to
  `unknown` either, which a later `yes` would then turn on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from crm.errors import InvalidInput

CHANNELS = ("email", "sms", "whatsapp")
YES, NO, UNKNOWN = "yes", "no", "unknown"
Status = Literal["yes", "no", "unknown"]

# Words real exports use (Shopify's "Accepts Email Marketing" says yes/no, its newer
# "Email Marketing Status" subscribed/unsubscribed/not_subscribed, others true/false, 1/0).
_WORDS: dict[str, str] = {
    **dict.fromkeys(
        (
            "yes",
            "y",
            "true",
            "t",
            "1",
            "subscribed",
            "opted_in",
            "optedin",
            "opt_in",
            "optin",
            "granted",
            "agreed",
            "accepted",
        ),
        YES,
    ),
    **dict.fromkeys(
        (
            "no",
            "n",
            "false",
            "f",
            "0",
            "unsubscribed",
            "opted_out",
            "optedout",
            "opt_out",
            "optout",
            "refused",
            "declined",
            "revoked",
            "withdrawn",
        ),
        NO,
    ),
    **dict.fromkeys(
        ("unknown", "not_subscribed", "notsubscribed", "pending", "never_subscribed", "invalid", "redacted"), UNKNOWN
    ),
}


# What the API's schema documents for one channel: the words above (case, spaces and hyphens are
# ignored when reading) or a JSON boolean.
STATUS_JSON_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "string", "enum": list(_WORDS)}, {"type": "boolean"}],
    "description": "yes, no or unknown (also true/false, 1/0, subscribed/unsubscribed and similar words)",
}


def parse_status(value: Any) -> str:
    """A consent cell or JSON value -> yes/no/unknown; raises ValueError with the accepted words."""
    if isinstance(value, bool):
        return YES if value else NO
    if isinstance(value, str):
        word = value.strip().lower().replace(" ", "_").replace("-", "_")
        if word in _WORDS:
            return _WORDS[word]
    raise ValueError(
        f"{str(value)[:40]!r} is not a consent value: use yes, no or unknown "
        "(also true/false, 1/0, subscribed/unsubscribed)"
    )


def parse_declared(text: str | None) -> frozenset[str] | None:
    """`--consent sms,email,whatsapp` or `none` -> the channels declared yes (None: not declared)."""
    if text is None:
        return None
    words = [word.strip().lower() for word in text.split(",") if word.strip()]
    if words == ["none"]:
        return frozenset()
    unknown = [word for word in words if word not in CHANNELS]
    if not words or unknown:
        raise InvalidInput(
            "--consent",
            f"{(unknown or [text])[0]!r} is not a channel: give some of "
            f"{', '.join(CHANNELS)} separated by commas, or 'none'",
        )
    return frozenset(words)


def describe_declared(declared: frozenset[str] | None) -> str:
    if declared is None:
        return "not declared"
    return ", ".join(c for c in CHANNELS if c in declared) if declared else "none"


@dataclass(frozen=True)
class ConsentSource:
    """Where a write's consent comes from, stamped on every channel it sets."""

    source: str  # "file customers.csv (by asha)", "api key shop backend", "demo data"
    at: datetime
    declared: frozenset[str] | None = None  # channels the whole input declared yes


def stored_status(stored: Any) -> str:
    """The status of a stored channel; documents from before consent tracking held booleans
    that defaulted to true, so only their `false` still means something (an explicit no)."""
    if isinstance(stored, dict):
        return stored.get("status") or UNKNOWN
    if stored is False:
        return NO
    return UNKNOWN


def stamp(status: str, origin: ConsentSource) -> dict[str, Any]:
    return {"status": status, "source": origin.source, "at": origin.at}


def merged(
    stored: dict[str, Any] | None, carried: Mapping[str, str | None], origin: ConsentSource
) -> dict[str, dict[str, Any]]:
    """Channel -> new stored value, for the channels that change.

    `stored` is the customer's stored `consent` (None for a new customer), `carried` the statuses
    the record itself gave (a channel absent: the input said nothing about it).
    """
    stored = stored or {}
    changes: dict[str, dict[str, Any]] = {}
    for channel in CHANNELS:
        before = stored_status(stored.get(channel))
        status = carried.get(channel)
        if status is None and origin.declared is not None and channel in origin.declared and before == UNKNOWN:
            status = YES
        if status is None and channel not in stored:
            status = UNKNOWN  # a new customer: every channel is on record, as unknown
        if isinstance(stored.get(channel), dict) and stored[channel].get("opted_out_at"):
            continue  # the customer's own opt-out (crm.ingest.opt_out): no import or API write changes it
        if status is not None and (status != before or not isinstance(stored.get(channel), dict)):
            changes[channel] = stamp(status, origin)
    return changes


# What a declaration means, in the words the Data page and the README use.
CONSENT_LAW = (
    "Declare only what these customers actually agreed to. India's DPDP Act 2023 requires consent "
    "that is free, specific, informed and given by a clear affirmative action, and TRAI's rules "
    "require it for promotional SMS; you must be able to show how it was given. The declaration is "
    "recorded with the file's name, your name and the time. Customers whose consent is unknown are "
    "never messaged, and a later 'no' always wins."
)
