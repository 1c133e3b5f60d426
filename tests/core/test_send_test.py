"""Test sends: every variant rendered for one real customer goes to internal contacts through the
vendor, marked as a test, and nothing of it counts in a campaign."""

from __future__ import annotations

import pytest

from crm.auth import CLI, SystemPrincipal
from crm.campaigns.model import CampaignDraft
from crm.campaigns.send_test import MARK, send_test
from crm.campaigns.vendor_access import MOCK_VENDOR_MESSAGES
from crm.config import load_settings
from crm.errors import Forbidden, InvalidInput, NotFound
from tests.campaign_support import EVERYONE, load_customers

DRAFT = CampaignDraft.build(
    name="Diwali", channel="sms", templates=["Hi {{ first_name }}", "{{ first_name }}, 20% off"], rules=EVERYONE
)


@pytest.fixture
def customers(db, fresh_copies):
    return load_customers(db, 3)


def test_each_variant_goes_to_each_test_contact_and_counts_nowhere(db, customers, api):
    sent = send_test(db, CLI, DRAFT, "c001", ["+91 98000 11111", "9800022222"], api.url, load_settings())
    assert [(m.to, m.variant, m.body, m.accepted) for m in sent] == [
        ("+919800011111", 1, f"{MARK}Hi Asha", True),
        ("+919800022222", 1, f"{MARK}Hi Asha", True),
        ("+919800011111", 2, f"{MARK}Asha, 20% off", True),
        ("+919800022222", 2, f"{MARK}Asha, 20% off", True),
    ]
    at_vendor = sorted((m["to"], m["body"]) for m in db[MOCK_VENDOR_MESSAGES].find())
    assert at_vendor == sorted((m.to, m.body) for m in sent)
    assert db.communication_log.count_documents({}) == 0 and db.campaigns.count_documents({}) == 0
    assert db.audit_log.count_documents({"action": "campaign.test_send"}) == 1


def test_bad_contacts_unknown_customers_and_viewers_are_refused(db, customers, api):
    settings = load_settings()
    with pytest.raises(InvalidInput, match="is not a phone number for sms"):
        send_test(db, CLI, DRAFT, "c001", ["asha@example.com"], api.url, settings)
    with pytest.raises(InvalidInput, match="give 1 to 10 contacts"):
        send_test(db, CLI, DRAFT, "c001", [], api.url, settings)
    with pytest.raises(NotFound, match="nobody"):
        send_test(db, CLI, DRAFT, "nobody", ["9800011111"], api.url, settings)
    with pytest.raises(Forbidden):
        send_test(db, SystemPrincipal("vic", "viewer"), DRAFT, "c001", ["9800011111"], api.url, settings)
    assert db[MOCK_VENDOR_MESSAGES].count_documents({}) == 0
