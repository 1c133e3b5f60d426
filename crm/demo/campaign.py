"""The demo's past campaign: sent three weeks before the last day, with a 10% holdout and a real
effect planted in the orders that followed, so a new workspace shows what a results panel says.

The campaign goes through the real check and snapshot (the audience, the exclusions, the
holdout and the variant split are the product's own); only the vendor is skipped: its messages
are recorded as sent and delivered, a few as bounced. Then, on top of the demo's ordinary orders
(which fall on the holdout and the messaged alike), some messaged customers order within the
window: variant 2 moves more of them than variant 1. Its id comes from the seed and the date,
so the same spec gives the same campaign, holdout and orders; loading again changes nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
from bson import ObjectId
from pymongo import UpdateOne

from crm.campaigns.check import check_draft
from crm.campaigns.model import COMPLETED, DELIVERED, FAILED, PENDING, CampaignDraft
from crm.campaigns.repository import campaign_stats, get_campaign, insert_campaign
from crm.campaigns.snapshot import take_snapshot
from crm.demo.generate import IST, MEDIAN_BASKET_RUPEES, MIN_AMOUNT_RUPEES, STATUS_SHARE, DemoSpec
from crm.ingest.consent import ConsentSource
from crm.ingest.records import validate_records
from crm.ingest.writer import write_records
from crm.store.documents import Database

NAME = "Weekend sale (demo)"
DEMO_OWNER = "demo"
SENT_DAYS_BEFORE = 21  # the window (7 days) closed two weeks before the last day
SEND_HOUR_IST = 10
SEND_MINUTES = 12  # how long the vendor took to hand out every message
HOLDOUT_PERCENT = 15  # more than the 10% we recommend, so a demo-sized audience shows a clear lift
WINDOW_DAYS = 7
BOUNCE_SHARE = 0.02
# Extra chance of ordering in the window that each variant's message gives (the planted truth).
EFFECT = (0.05, 0.09)
RESPONSE_MEAN_DAYS = 1.5  # most people who act on a message do so within a day or two
TEMPLATES = [
    "Hi {{ first_name }}, our weekend sale is on: 20% off everything until Sunday.",
    "{{ first_name }}, 20% off is waiting for you this weekend only: see what's new in "
    "{{ city | default('your city') }}.",
]


@dataclass(frozen=True)
class DemoCampaign:
    campaign_id: str
    recipients: int
    holdout: int
    orders: int  # the orders its messages brought (on top of the spec's)

    def summary(self) -> dict:
        return vars(self)


def campaign_id_for(spec: DemoSpec) -> ObjectId:
    """The same seed and last day give the same campaign id, hence the same holdout."""
    digest = hashlib.sha256(f"demo campaign {spec.seed} {spec.as_of.isoformat()}".encode()).digest()
    return ObjectId(digest[:12])


def start_of(spec: DemoSpec) -> datetime:
    day = spec.as_of - timedelta(days=SENT_DAYS_BEFORE)
    return datetime.combine(day, time(SEND_HOUR_IST), UTC) - IST


def add_demo_campaign(db: Database, spec: DemoSpec, origin: ConsentSource) -> DemoCampaign | None:
    """Create the campaign, its log and the orders it brought (once); None when nobody could get it."""
    oid = campaign_id_for(spec)
    started = start_of(spec)
    if db.campaigns.find_one({"_id": oid}, {"_id": 1}) is None:
        draft = CampaignDraft.build(
            name=NAME,
            objective="Bring past buyers back for the weekend sale",
            channel="email",
            templates=TEMPLATES,
            rules=audience_rule(started.date()),
            as_of=started.date(),
            holdout_percent=HOLDOUT_PERCENT,
            window_days=WINDOW_DAYS,
        )
        report = check_draft(draft)
        if report.recipients == 0 or not report.ok:
            return None
        insert_campaign(db, draft, report, owner=DEMO_OWNER, campaign_id=oid, created_at=started - timedelta(days=1))
        db.campaigns.update_one({"_id": oid}, {"$set": {"started_at": started}})
        take_snapshot(db, get_campaign(db, str(oid)))
        _record_delivery(db, str(oid), started, np.random.default_rng([spec.seed, 1]))
    orders = _orders_it_brought(db, str(oid), spec)
    write_records(db, "orders", validate_records("orders", orders).valid, origin=origin)
    stats = campaign_stats(db, str(oid))
    return DemoCampaign(str(oid), stats.audience, stats.holdout, len(orders))


def audience_rule(day: date) -> dict:
    """Customers who had signed up and ordered before the sale."""
    return {
        "op": "and",
        "rules": [
            {"field": "signup_date", "operator": "before", "value": day.isoformat()},
            {"field": "first_order_date", "operator": "before", "value": day.isoformat()},
        ],
    }


def _record_delivery(db: Database, campaign_id: str, started: datetime, rng: np.random.Generator) -> None:
    """What the vendor would have reported: every message sent within minutes, a few bounced."""
    rows = list(
        db.communication_log.find({"campaign_id": campaign_id, "status": PENDING}, {"_id": 1}).sort("customer_id")
    )
    gap = timedelta(minutes=SEND_MINUTES) / max(len(rows), 1)
    last = started
    updates = []
    for i, row in enumerate(rows):
        sent = started + i * gap
        settled = sent + timedelta(seconds=float(rng.uniform(2, 40)))
        bounced = rng.random() < BOUNCE_SHARE
        last = max(last, settled)
        update = UpdateOne(
            {"_id": row["_id"]},
            {
                "$set": {
                    "status": FAILED if bounced else DELIVERED,
                    "error": "mailbox does not exist" if bounced else None,
                    "accepted": True,
                    "vendor_message_id": f"demo-{campaign_id}-{i}",
                    "attempts": 1,
                    "sent_at": sent,
                    "settled_at": settled,
                    # when the row was written, as the frequency cap counts it: three weeks ago
                    "created_at": started,
                    "updated_at": settled,
                }
            },
        )
        updates.append(update)
    if updates:
        db.communication_log.bulk_write(updates, ordered=False)
    db.campaigns.update_one(
        {"_id": ObjectId(campaign_id)},
        {"$set": {"status": COMPLETED, "dispatched_at": started + len(rows) * gap, "finished_at": last}},
    )


def _orders_it_brought(db: Database, campaign_id: str, spec: DemoSpec) -> list[dict]:
    """The orders of the messaged customers whom the message moved: drawn from the log as it is
    stored, in customer order, so the same campaign always gives the same orders."""
    rng = np.random.default_rng([spec.seed, 2])
    window = WINDOW_DAYS
    shares = np.cumsum(list(STATUS_SHARE.values()))  # completed / cancelled / refunded, as the demo's
    orders: list[dict] = []
    delivered = db.communication_log.find(
        {"campaign_id": campaign_id, "status": DELIVERED}, {"customer_id": 1, "variant": 1, "sent_at": 1}
    ).sort("customer_id")
    for row in delivered:
        moved = rng.random() < EFFECT[row["variant"] % len(EFFECT)]
        # Always draw the rest, so one customer's luck does not shift everyone after them.
        u, size, status = rng.random(), rng.lognormal(np.log(MEDIAN_BASKET_RUPEES), 0.9), rng.random()
        if not moved:
            continue
        # Truncated exponential by inversion: soon after the message, never after the window.
        days = -RESPONSE_MEAN_DAYS * np.log(1 - u * (1 - np.exp(-window / RESPONSE_MEAN_DAYS)))
        at = row["sent_at"].replace(tzinfo=UTC) + timedelta(days=float(days))
        shelf = max(round(size / 10) * 10 - 1, MIN_AMOUNT_RUPEES)
        orders.append(
            {
                "order_id": f"ORD-SALE-{len(orders) + 1:05d}",
                "customer_id": row["customer_id"],
                "amount": f"{shelf}.00",
                "status": list(STATUS_SHARE)[int(np.searchsorted(shares, status * shares[-1]))],
                "order_date": at,
            }
        )
    return orders
