"""The audience snapshot: one communication_log row per recipient, written before any send.

Rows are inserted in bulk with the message already rendered, PENDING. The unique
(campaign_id, customer_id) index makes a repeated snapshot (after a crash half-way) add only the
rows that are missing. A message that cannot be rendered any more (the data changed since the
check) becomes a FAILED row saying why: counted, never silently dropped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from pymongo.errors import BulkWriteError

from crm.campaigns.audience import COUNTED, HeldBack, columns_for, exclusion, stream
from crm.campaigns.channels import channel as get_channel
from crm.campaigns.dlt import dlt_template
from crm.campaigns.frequency import capped_customers, ledger_lock
from crm.campaigns.model import FAILED, HOLDOUT, PENDING, Campaign
from crm.campaigns.repository import object_id
from crm.campaigns.sending_rules import frequency_cap
from crm.campaigns.templating import RenderError, compile_template, render, variant_for
from crm.campaigns.unsubscribe import Unsubscribe, unsubscribe_secret, unsubscribe_url
from crm.config import load_settings
from crm.ingest.suppressions import suppressed_contacts
from crm.store.clock import utc_now
from crm.store.documents import Database, Document

DUPLICATE_KEY = 11000


def take_snapshot(db: Database, campaign: Campaign, progress: Callable[[int], None] | None = None) -> int:
    """Write the campaign's log rows (idempotent); returns the number of recipients. With a
    frequency cap, under the ledger lock: the next campaign's snapshot counts these rows."""
    suppressed = suppressed_contacts(db, campaign.channel)
    cap = frequency_cap(db)
    if cap is None:
        return _take_snapshot(db, campaign, HeldBack(suppressed), progress)
    with ledger_lock(db) as lock:
        capped = capped_customers(db, cap, campaign.channel, utc_now(), campaign.id)

        def step(n: int) -> None:
            lock.renew()
            if progress:
                progress(n)

        return _take_snapshot(db, campaign, HeldBack(suppressed, capped), step)


def _take_snapshot(db: Database, campaign: Campaign, held: HeldBack, progress: Callable[[int], None] | None) -> int:
    channel = get_channel(campaign.channel)
    settings = load_settings()
    secret = unsubscribe_secret(settings)
    dlt = dlt_template(db, campaign.dlt_template_id) if campaign.dlt_template_id and channel.name == "sms" else None
    compiled = [compile_template(t, location=f"template {i}") for i, t in enumerate(campaign.templates, 1)]
    fields = set().union(*(c.fields for c in compiled))
    excluded = dict.fromkeys(COUNTED, 0)
    matched = 0
    for rows in stream(campaign.rules, campaign.as_of, columns_for(channel, fields)):
        stamp = utc_now()
        docs = []
        for row in rows:
            matched += 1
            reason = exclusion(row, channel, held)
            if reason:
                excluded[reason] = excluded.get(reason, 0) + 1
                continue
            variant = variant_for(row["customer_id"], len(compiled))
            held_out = in_holdout(campaign.id, row["customer_id"], campaign.holdout_percent)
            doc = {
                "campaign_id": campaign.id,
                "customer_id": row["customer_id"],
                "channel": channel.name,
                "to": str(row[channel.contact_field]).strip(),
                "variant": variant,
                "status": PENDING,
                "accepted": False,
                "vendor_message_id": None,
                "attempts": 0,
                "error": None,
                "created_at": stamp,
                "updated_at": stamp,
                "sent_at": None,
                "settled_at": None,
            }
            if dlt is not None:  # what the operator checks the message against
                doc["dlt"] = {"template_id": dlt.template_id, "header": dlt.header}
            if held_out:  # eligible like the others, then not messaged: the comparison group
                doc.update(message=None, status=HOLDOUT)
                docs.append(doc)
                continue
            try:
                doc["message"] = render(compiled[variant], row)
                if channel.name == "email":  # the vendor request adds it to the body (dispatcher._payload)
                    doc["unsubscribe_url"] = unsubscribe_url(
                        settings, Unsubscribe(row["customer_id"], "email", campaign.id), secret
                    )
            except RenderError as exc:
                doc.update(message=None, status=FAILED, error=f"not rendered: {exc}", settled_at=stamp)
            docs.append(doc)
        _insert_missing(db, docs)
        if progress:
            progress(len(rows))
    audience = db.communication_log.count_documents({"campaign_id": campaign.id, "status": {"$ne": HOLDOUT}})
    db.campaigns.update_one(
        {"_id": object_id(campaign.id)},
        {
            "$set": {
                "audience": audience,
                "matched": matched,
                "excluded": excluded,
                "snapshot_done": True,
                "updated_at": utc_now(),
            }
        },
    )
    return audience


def in_holdout(campaign_id: str, customer_id: str, percent: int) -> bool:
    """Whether a customer is in the campaign's random holdout: a hash of both ids, so it is the
    same in every process and after a restart, and independent of the variant split."""
    if percent <= 0:
        return False
    digest = hashlib.sha256(f"{campaign_id}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 < percent * 100


def _insert_missing(db: Database, docs: list[Document]) -> None:
    if not docs:
        return
    try:
        db.communication_log.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        others = [e for e in exc.details.get("writeErrors", []) if e.get("code") != DUPLICATE_KEY]
        if others:
            raise
