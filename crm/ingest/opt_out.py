"""A customer's own "no": an unsubscribe link, a STOP reply, a suppression list. It turns the
channel's consent to `no` and marks it `opted_out_at`, which no later import or API write of
`yes` undoes (`consent.merged` keeps it): the source system's `yes` may be years old, the
customer's opt-out is the newest word we have. Every opt-out is in the audit log and in the
customer's `consent_history`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from crm.auth import audit
from crm.ingest.consent import CHANNELS, NO
from crm.store.clock import utc_now
from crm.store.documents import Database
from crm.store.schema import IN_QUERY_CHUNK

OPTED_OUT_AT = "opted_out_at"


@dataclass(frozen=True)
class CustomerAction:
    """Who acts when customers opt out themselves: no user, the customer (or their number)."""

    username: str
    role: str = "customer"


def opt_out(db: Database, customer_ids: Collection[str], channel: str, source: str) -> int:
    """Turn `channel` off for the customers, stating the source; returns how many changed (a
    customer already opted out on it is left as they are)."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    now = utc_now()
    value = {"status": NO, "source": source, "at": now, OPTED_OUT_AT: now}
    changed = 0
    every = sorted(set(customer_ids))
    for chunk in (every[i : i + IN_QUERY_CHUNK] for i in range(0, len(every), IN_QUERY_CHUNK)):
        still_in = {f"consent.{channel}.{OPTED_OUT_AT}": None}
        ids = [
            d["customer_id"] for d in db.customers.find({"customer_id": {"$in": chunk}, **still_in}, {"customer_id": 1})
        ]
        if not ids:
            continue
        result = db.customers.update_many(
            {"customer_id": {"$in": ids}, **still_in},
            {
                "$set": {f"consent.{channel}": value, "updated_at": now},
                "$push": {"consent_history": {"channel": channel, **value}},
            },
        )
        changed += result.modified_count
        for customer_id in ids:  # audited: those it changed (read just before, under the same condition)
            audit.record(
                CustomerAction(customer_id),
                "consent.opt_out",
                customer_id,
                {"channel": channel, "source": source},
                db=db,
            )
    if changed:
        _mark_changed()
    return changed


def opt_out_contact(db: Database, contact: str, channel: str, source: str) -> int:
    """A person's opt-out by their email or number: every customer record holding it, and the
    contact kept on the suppression list, so a record imported later with it is held back too."""
    from crm.ingest.suppressions import suppress

    suppress(db, [contact], [channel], source)
    field = "email" if "@" in contact else "phone"
    ids = [d["customer_id"] for d in db.customers.find({field: contact}, {"customer_id": 1})]
    return opt_out(db, ids, channel, source) if ids else 0


def _mark_changed() -> None:
    """The analytic copy reads consent: it refreshes from the changed customers."""
    from crm import analytics

    analytics.after_write("customers")
