"""The frequency cap: at most N messages per customer in D days, counted on communication_log,
excluded at the snapshot with its reason, and never passed by two campaigns starting at once."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest

from crm.auth import CLI, SystemPrincipal
from crm.campaigns.audience import FREQUENCY_CAP
from crm.campaigns.model import FAILED, HOLDOUT, CampaignDraft
from crm.campaigns.repository import get_campaign
from crm.campaigns.sending_rules import FrequencyCap, frequency_cap, set_frequency_cap
from crm.campaigns.service import compose_campaign
from crm.campaigns.snapshot import take_snapshot
from crm.errors import Forbidden, InvalidInput
from tests.campaign_support import EVERYONE, load_customers

CUSTOMERS = 30


@pytest.fixture
def customers(db, fresh_copies):
    return load_customers(db, CUSTOMERS)


def snapshot(db, name: str, channel: str = "sms", holdout: int = 0) -> str:
    """Compose and take the audience of a campaign; its id."""
    draft = CampaignDraft.build(name=name, channel=channel, templates=["Hi"], rules=EVERYONE, holdout_percent=holdout)
    campaign, _ = compose_campaign(db, CLI, draft)
    take_snapshot(db, get_campaign(db, campaign.id))
    return campaign.id


def messaged(db, campaign_id: str) -> set[str]:
    rows = db.communication_log.find({"campaign_id": campaign_id, "status": {"$ne": HOLDOUT}})
    return {r["customer_id"] for r in rows}


def test_without_a_cap_every_campaign_reaches_everyone(db, customers):
    assert frequency_cap(db) is None  # off by default
    for name in ("one", "two", "three"):
        assert len(messaged(db, snapshot(db, name))) == CUSTOMERS


def test_customers_at_the_cap_are_excluded_with_the_reason_counted(db, customers):
    set_frequency_cap(db, FrequencyCap(2, 7), by=CLI)
    first, second = snapshot(db, "one"), snapshot(db, "two", channel="email")
    assert len(messaged(db, first)) == len(messaged(db, second)) == CUSTOMERS
    # Across channels: two messages of any channel count, so a third on another is held back.
    draft = CampaignDraft.build(name="three", channel="whatsapp", templates=["Hi"], rules=EVERYONE)
    with pytest.raises(InvalidInput) as refused:  # the check sees everyone capped: nobody to send to
        compose_campaign(db, CLI, draft)
    assert "nobody to send to" in refused.value.message
    db.communication_log.update_many({"campaign_id": second}, {"$set": {"created_at": days_ago(8)}})
    # Composed while everyone still has room: the snapshot, not only the check, holds the cap.
    later, _ = compose_campaign(db, CLI, CampaignDraft.build(name="four", templates=["Hi"], rules=EVERYONE))
    third = snapshot(db, "three", channel="whatsapp")
    assert len(messaged(db, third)) == CUSTOMERS  # the emails are 8 days old: out of the window
    take_snapshot(db, get_campaign(db, later.id))
    assert messaged(db, later.id) == set()
    assert get_campaign(db, later.id).excluded[FREQUENCY_CAP] == CUSTOMERS


def test_per_channel_caps_count_each_channel_apart(db, customers):
    set_frequency_cap(db, FrequencyCap(1, 7, across_channels=False), by=CLI)
    assert len(messaged(db, snapshot(db, "sms"))) == CUSTOMERS
    assert len(messaged(db, snapshot(db, "email", channel="email"))) == CUSTOMERS
    with pytest.raises(InvalidInput, match="nobody to send to"):  # SMS is full: the check says so
        snapshot(db, "sms again")


def test_held_out_and_failed_messages_reached_nobody_and_do_not_count(db, customers):
    set_frequency_cap(db, FrequencyCap(1, 7), by=CLI)
    first = snapshot(db, "with holdout", holdout=30)
    held = {r["customer_id"] for r in db.communication_log.find({"campaign_id": first, "status": HOLDOUT})}
    bounced = sorted(messaged(db, first))[:3]
    db.communication_log.update_many(
        {"campaign_id": first, "customer_id": {"$in": bounced}}, {"$set": {"status": FAILED}}
    )
    assert held and messaged(db, snapshot(db, "second", channel="email")) == held | set(bounced)


def test_the_pre_send_check_counts_who_the_cap_holds_back(db, customers):
    set_frequency_cap(db, FrequencyCap(1, 7), by=CLI)
    first = snapshot(db, "first", holdout=20)
    reachable = CUSTOMERS - len(messaged(db, first))
    draft = CampaignDraft.build(name="second", channel="email", templates=["Hi"], rules=EVERYONE)
    _, report = compose_campaign(db, CLI, draft)
    assert (report.recipients, report.excluded[FREQUENCY_CAP]) == (reachable, CUSTOMERS - reachable)
    assert "already had as many messages as the frequency cap allows" in report.summary()


def test_two_campaigns_starting_at_once_never_pass_the_cap_together(db, customers):
    set_frequency_cap(db, FrequencyCap(1, 7), by=CLI)
    campaigns = []
    for name in ("left", "right"):
        draft = CampaignDraft.build(name=name, channel="sms", templates=["Hi"], rules=EVERYONE)
        campaigns.append(compose_campaign(db, CLI, draft)[0])
    start = threading.Barrier(len(campaigns))
    errors: list[BaseException] = []

    def send(campaign) -> None:
        try:
            start.wait()
            take_snapshot(db, get_campaign(db, campaign.id))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(c,)) for c in campaigns]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    per_customer = Counter(c for campaign in campaigns for c in messaged(db, campaign.id))
    assert set(per_customer) == set(customers) and set(per_customer.values()) == {1}
    # One snapshot took everyone; the other found them all capped and said so.
    excluded = sorted(get_campaign(db, c.id).excluded.get(FREQUENCY_CAP, 0) for c in campaigns)
    assert excluded == [0, CUSTOMERS]


def test_only_admins_set_the_cap_and_bad_values_are_refused_in_our_words(db):
    with pytest.raises(Forbidden):
        set_frequency_cap(db, FrequencyCap(3, 7), by=SystemPrincipal("mia", "marketer"))
    for messages, days in ((0, 7), (3, 0), (101, 7), (3, 91)):
        with pytest.raises(InvalidInput) as refused:
            FrequencyCap(messages, days)
        assert "3 messages in 7 days is a good start" in refused.value.message
    set_frequency_cap(db, FrequencyCap(3, 7), by=CLI)
    assert frequency_cap(db) == FrequencyCap(3, 7)
    assert frequency_cap(db).describe() == "at most 3 message(s) per customer in 7 day(s), on all channels together"
    set_frequency_cap(db, None, by=CLI)
    assert frequency_cap(db) is None
    assert db.audit_log.count_documents({"action": "settings.sending"}) == 2


def days_ago(days: int):
    from crm.store.clock import utc_now

    return utc_now() - timedelta(days=days)
