"""Test sends (the module is not named test_*, which test runners collect): before the real
send, each variant's message rendered for one real customer's data goes to a few internal test
contacts (the marketer's own phone or inbox), marked as a test.

Nothing of it counts in any campaign: no communication_log row, no counter, no frequency cap;
the vendor's receipts for them are refused as about no campaign message, and dropped. Each test
send is kept in `test_sends` and audited.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from crm.auth import Principal, audit, require
from crm.campaigns.audience import columns_for, stream
from crm.campaigns.channels import channel as get_channel
from crm.campaigns.model import CampaignDraft
from crm.campaigns.templating import RenderError, compile_template, render
from crm.campaigns.vendor_access import MOCK_PREFIX, vendor_key
from crm.config import Settings
from crm.errors import InvalidInput, NotFound, Unavailable
from crm.ingest.suppressions import contact_key
from crm.store.clock import utc_now
from crm.store.documents import Database

MAX_CONTACTS = 10
TEST_SENDS = "test_sends"
MARK = "[TEST] "


@dataclass(frozen=True)
class SampleMessage:
    to: str
    variant: int  # from 1
    body: str
    accepted: bool
    error: str | None = None


def contacts_for_test(channel: str, contacts: list[str], region: str) -> list[str]:
    """The contacts in their stored forms; InvalidInput naming the first that does not fit."""
    wanted = "an email address" if channel == "email" else "a phone number"
    out = []
    for text in contacts:
        key = contact_key(text, region)
        if key is None or (channel == "email") != ("@" in key):
            raise InvalidInput("test contacts", f"{text.strip()[:60]!r} is not {wanted} for {channel}")
        out.append(key)
    if not out or len(out) > MAX_CONTACTS:
        raise InvalidInput("test contacts", f"give 1 to {MAX_CONTACTS} contacts to send the test to")
    return list(dict.fromkeys(out))


def customer_row(draft: CampaignDraft, customer_id: str, fields: set[str]) -> dict[str, Any]:
    """The customer's data as a message renders it (from the analytic copy, like the send)."""
    rule = {"op": "and", "rules": [{"field": "customer_id", "operator": "=", "value": customer_id}]}
    as_of = draft.as_of or datetime.now(UTC).date()
    for rows in stream(rule, as_of, columns_for(get_channel(draft.channel), fields), limit=1):
        for row in rows:
            return row
    raise NotFound(f"no customer with customer_id {customer_id!r}: pick one whose data the test should show")


def send_test(
    db: Database,
    user: Principal,
    draft: CampaignDraft,
    customer_id: str,
    contacts: list[str],
    vendor_url: str,
    settings: Settings,
) -> list[SampleMessage]:
    """Every variant of the draft, rendered for `customer_id`, to each test contact."""
    require(user, "campaign.send")
    to = contacts_for_test(draft.channel, contacts, settings.phone_region)
    compiled = [compile_template(t, location=f"template {i}") for i, t in enumerate(draft.templates, 1)]
    row = customer_row(draft, customer_id, set().union(*(c.fields for c in compiled)))
    url = f"{vendor_url.rstrip('/')}{MOCK_PREFIX}/messages"
    sent: list[SampleMessage] = []
    with httpx.Client(timeout=10, headers={"Authorization": f"Bearer {vendor_key(settings)}"}) as client:
        for variant, template in enumerate(compiled, start=1):
            try:
                body = MARK + render(template, row)
            except RenderError as exc:
                raise InvalidInput(f"template {variant}", f"cannot render for {customer_id}: {exc}") from None
            for contact in to:
                sent.append(_post(client, url, draft.channel, contact, variant, body))
    db[TEST_SENDS].insert_one(
        {
            "at": utc_now(),
            "by": user.username,
            "name": draft.name,
            "channel": draft.channel,
            "customer_id": customer_id,
            "messages": [vars(m) for m in sent],
        }
    )
    audit.record(user, "campaign.test_send", draft.name, {"customer_id": customer_id, "contacts": len(to)}, db=db)
    return sent


def _post(client: httpx.Client, url: str, channel: str, to: str, variant: int, body: str) -> SampleMessage:
    payload = {"channel": channel, "to": to, "body": body}
    try:
        response = client.post(url, json=payload, headers={"Idempotency-Key": f"test:{uuid.uuid4().hex}"})
    except httpx.HTTPError as exc:
        raise Unavailable(f"the vendor could not be reached for the test send ({type(exc).__name__})") from None
    if response.is_success:
        return SampleMessage(to, variant, body, True)
    return SampleMessage(to, variant, body, False, f"refused by the vendor ({response.status_code})")
