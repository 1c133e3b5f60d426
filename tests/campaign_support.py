"""Helpers of the campaign tests: a small customer base, a signed receipt, waiting on conditions."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import httpx

from crm.analytics import analytic_copy
from crm.auth import CLI
from crm.campaigns import CampaignDraft, compose_campaign
from crm.campaigns.model import PENDING, SENT
from crm.campaigns.repository import get_campaign, object_id
from crm.campaigns.signing import HEADER, sign
from crm.campaigns.snapshot import take_snapshot
from crm.campaigns.vendor_access import vendor_key
from crm.config import load_settings
from crm.ingest.records import validate_records
from crm.ingest.writer import write_records
from tests.api_fixtures import wait_for  # noqa: F401 - re-exported for the campaign tests

SECRET = "test-receipt-secret"
EVERYONE = {"op": "and", "rules": [{"field": "customer_id", "operator": "is_not_empty"}]}


def load_customers(
    db,
    n: int,
    *,
    no_sms_consent: set[int] = frozenset(),
    no_phone: set[int] = frozenset(),
    no_city: set[int] = frozenset(),
) -> list[str]:
    """Customers c000.. with a phone, an email, a city and consent to every channel, except where
    told otherwise."""
    rows = []
    for i in range(n):
        row = {
            "customer_id": f"c{i:03d}",
            "name": f"Asha {i}",
            "email": f"asha{i}@example.com",
            "phone": None if i in no_phone else f"+9198{i:08d}",
            "city": None if i in no_city else ["Mumbai", "Pune"][i % 2],
            "consent_email": "yes",
            "consent_sms": "yes",
            "consent_whatsapp": "yes",
        }
        if i in no_sms_consent:
            row["consent_sms"] = "no"
        rows.append(row)
    write_records(db, "customers", validate_records("customers", rows).valid)
    analytic_copy.close_all()  # the next reader opens a copy that has them
    return [r["customer_id"] for r in rows]


def compose(
    db,
    templates=("Hi {{ first_name }} in {{ city | default('India') }}",),
    channel="sms",
    rules=EVERYONE,
    name="spring sale",
    user=CLI,
):
    draft = CampaignDraft.build(name=name, channel=channel, templates=list(templates), rules=rules)
    return compose_campaign(db, user, draft)


def post_receipt(
    url: str,
    receipt: dict | list,
    secret: str = SECRET,
    signature: str | bytes | bool | None = None,
    timestamp: int | None = None,
) -> httpx.Response:
    """Post a receipt signed with `secret` at `timestamp` (now), or with `signature` as given (False: none)."""
    body = json.dumps(receipt).encode()
    headers = {"Content-Type": "application/json"}
    if signature is not False:
        headers[HEADER] = signature or sign(secret.encode(), body, timestamp)
    return httpx.post(f"{url}/api/v1/delivery-receipts", content=body, headers=headers, timeout=30)


def vendor_auth(key: str | None = None) -> dict[str, str]:
    """The mock vendor's `Authorization` header: with `key`, or the test data dir's vendor key."""
    return {"Authorization": f"Bearer {key or vendor_key(load_settings())}"}


def log_rows(db, campaign_id: str) -> list[dict]:
    return list(db.communication_log.find({"campaign_id": campaign_id}, {"_id": 0}))


def started_campaign(db, name: str, holdout: int, started: datetime, templates=("Hi {{ name }}",), window=7):
    """A campaign composed, started at `started` and snapshot; each message sent i minutes later."""
    draft = CampaignDraft.build(
        name=name, channel="sms", templates=list(templates), rules=EVERYONE, holdout_percent=holdout, window_days=window
    )
    campaign, _ = compose_campaign(db, CLI, draft)
    db.campaigns.update_one({"_id": object_id(campaign.id)}, {"$set": {"started_at": started}})
    take_snapshot(db, get_campaign(db, campaign.id))
    for i, row in enumerate(
        db.communication_log.find({"campaign_id": campaign.id, "status": PENDING}).sort("customer_id")
    ):
        db.communication_log.update_one(
            {"_id": row["_id"]}, {"$set": {"status": SENT, "accepted": True, "sent_at": started + timedelta(minutes=i)}}
        )
    return get_campaign(db, campaign.id)


def order(order_id: str, customer_id: str, rupees: int, when: datetime, status: str = "completed") -> dict:
    return {
        "order_id": order_id,
        "customer_id": customer_id,
        "amount": str(rupees),
        "status": status,
        "order_date": when.isoformat(),
    }
