"""Scheduled campaigns: created for a time, started once when due (however many schedulers look),
cancelled or moved only before they start. The clock is passed in as `now`."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta

import pytest

from crm.auth import CLI, audit, users
from crm.campaigns import CampaignDraft, send_campaign, wait_until_settled
from crm.campaigns.lease import Lease
from crm.campaigns.model import CANCELLED, SCHEDULED, SENDING, status_label
from crm.campaigns.repository import get_campaign
from crm.campaigns.schedule import (
    cancel_campaign,
    list_scheduled,
    parse_send_time,
    reschedule_campaign,
    schedule_campaign,
)
from crm.campaigns.scheduler import Scheduler, start_due
from crm.config import load_settings
from crm.errors import Conflict, InvalidInput
from crm.store.clock import utc_now
from tests.campaign_support import EVERYONE, SECRET, load_customers, wait_for

ZONE = "Asia/Kolkata"


def ten_tomorrow() -> datetime:
    """10:00 in Kolkata tomorrow, as UTC (04:30)."""
    tomorrow = (utc_now() + timedelta(days=1)).date()
    return datetime(tomorrow.year, tomorrow.month, tomorrow.day, 4, 30, tzinfo=UTC)


def scheduled(db, at: datetime, name: str = "festive"):
    draft = CampaignDraft.build(name=name, channel="sms", templates=["Hi {{ first_name }}"], rules=EVERYONE)
    campaign, _ = schedule_campaign(db, CLI, draft, at, zone=ZONE)
    return campaign


def nothing_to_send(campaign_id: str, owner: str) -> None:
    """A scheduler's send step that sends nothing: these tests look at the claims alone."""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-25 10:00", datetime(2026, 12, 25, 4, 30, tzinfo=UTC)),
        ("2026-12-25T10:00", datetime(2026, 12, 25, 4, 30, tzinfo=UTC)),
        ("2026-12-25T10:00+00:00", datetime(2026, 12, 25, 10, 0, tzinfo=UTC)),
        ("2026-12-25T10:00Z", datetime(2026, 12, 25, 10, 0, tzinfo=UTC)),
        (" 2026-12-25 10:00:30+05:30 ", datetime(2026, 12, 25, 4, 30, 30, tzinfo=UTC)),
    ],
)
def test_a_send_time_is_read_in_the_workspace_zone_unless_it_has_an_offset(text, expected):
    assert parse_send_time(text, ZONE) == expected


@pytest.mark.parametrize("text", ["2026-12-25", "tomorrow 10am", "25/12/2026 10:00", "2026-13-25 10:00", ""])
def test_a_send_time_that_is_not_a_date_and_time_says_how_to_write_one(text):
    with pytest.raises(InvalidInput) as caught:
        parse_send_time(text, ZONE)
    assert caught.value.location == "send time"
    assert "YYYY-MM-DD HH:MM in Asia/Kolkata" in caught.value.message


def test_a_scheduled_campaign_is_listed_with_its_time_in_utc_and_its_rule_day(db):
    load_customers(db, 3)
    at = ten_tomorrow()
    campaign = scheduled(db, at)
    stored = get_campaign(db, campaign.id)
    assert (stored.status, stored.scheduled_at, stored.started_at) == (SCHEDULED, at, None)
    assert stored.as_of == at.date()  # the rule's "today" is the send day
    assert stored.audience is None and db.communication_log.count_documents({}) == 0  # taken at the start
    assert [c.id for c in list_scheduled(db)] == [campaign.id]
    assert status_label(stored.status, 0) == "scheduled"
    assert audit.query({"action": "campaign.schedule"}, db=db)[0].target == campaign.id


def test_a_time_in_the_past_is_refused_and_nothing_is_created(db):
    load_customers(db, 3)
    draft = CampaignDraft.build(name="late", channel="sms", templates=["Hi"], rules=EVERYONE)
    with pytest.raises(InvalidInput) as caught:
        schedule_campaign(db, CLI, draft, utc_now() - timedelta(minutes=1), zone=ZONE)
    assert caught.value.location == "send time"
    assert "is in the past" in caught.value.message and "choose a later time" in caught.value.message
    assert db.campaigns.count_documents({}) == 0


def test_a_campaign_scheduled_for_ten_starts_at_ten_and_once_with_two_schedulers(db):
    load_customers(db, 3)
    at = ten_tomorrow()
    campaigns = [scheduled(db, at, name=f"festive {i}").id for i in range(5)]

    assert start_due(db, at - timedelta(seconds=1), "scheduler-a", nothing_to_send) == []
    assert {get_campaign(db, c).status for c in campaigns} == {SCHEDULED}

    together = threading.Barrier(2)
    started: dict[str, list[str]] = {}

    def look(owner: str) -> None:
        together.wait()  # both run the due check at the same moment
        started[owner] = start_due(db, at, owner, nothing_to_send)

    threads = [threading.Thread(target=look, args=(owner,)) for owner in ("scheduler-a", "scheduler-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(started["scheduler-a"] + started["scheduler-b"]) == sorted(campaigns)  # each once
    for campaign_id in campaigns:
        campaign = get_campaign(db, campaign_id)
        owner = "scheduler-a" if campaign_id in started["scheduler-a"] else "scheduler-b"
        assert (campaign.status, campaign.lease_owner) == (SENDING, owner)
        assert campaign.started_at is not None
    assert start_due(db, at + timedelta(hours=1), "scheduler-c", nothing_to_send) == []  # nothing left
    assert len(audit.query({"action": "campaign.start"}, db=db)) == 5


def test_a_campaign_cancelled_before_its_time_never_starts(db):
    load_customers(db, 3)
    at = ten_tomorrow()
    campaign = scheduled(db, at)
    cancelled = cancel_campaign(db, CLI, campaign.id)
    assert cancelled.status == CANCELLED and cancelled.cancelled_at is not None
    assert start_due(db, at + timedelta(days=1), "scheduler-a", nothing_to_send) == []
    with pytest.raises(Conflict, match="was cancelled"):
        Lease(db, campaign.id, 60).claim(at + timedelta(days=1))
    assert get_campaign(db, campaign.id).started_at is None
    with pytest.raises(Conflict, match="already cancelled"):
        cancel_campaign(db, CLI, campaign.id)
    assert list_scheduled(db) == []
    assert audit.query({"action": "campaign.cancel"}, db=db)[0].target == campaign.id


def test_cancelling_or_moving_a_campaign_that_started_is_refused(db):
    load_customers(db, 3)
    at = ten_tomorrow()
    campaign = scheduled(db, at)
    assert start_due(db, at, "scheduler-a", nothing_to_send) == [campaign.id]
    with pytest.raises(Conflict, match="started sending at .* it can no longer be cancelled"):
        cancel_campaign(db, CLI, campaign.id)
    with pytest.raises(Conflict, match="it can no longer be rescheduled"):
        reschedule_campaign(db, CLI, campaign.id, at + timedelta(hours=1), zone=ZONE)
    assert get_campaign(db, campaign.id).status == SENDING


def test_a_scheduled_campaign_cannot_be_sent_early_by_hand(db):
    load_customers(db, 3)
    campaign = scheduled(db, ten_tomorrow())
    with pytest.raises(Conflict, match="is scheduled for .* UTC and starts then"):
        send_campaign(db, CLI, campaign.id, "http://127.0.0.1:9", load_settings())
    assert get_campaign(db, campaign.id).status == SCHEDULED


def test_moving_a_campaign_changes_when_it_starts(db):
    load_customers(db, 3)
    at = ten_tomorrow()
    campaign = scheduled(db, at)
    later = at + timedelta(days=1, hours=2)
    moved = reschedule_campaign(db, CLI, campaign.id, later, zone=ZONE)
    assert (moved.scheduled_at, moved.as_of) == (later, later.date())
    assert start_due(db, at, "scheduler-a", nothing_to_send) == []
    assert start_due(db, later, "scheduler-a", nothing_to_send) == [campaign.id]
    with pytest.raises(InvalidInput, match="is in the past"):
        reschedule_campaign(db, CLI, scheduled(db, at).id, utc_now() - timedelta(hours=1), zone=ZONE)


def test_the_scheduler_sends_a_due_campaign_with_exact_counters(db, start_api):
    api = start_api(receipt_secret=SECRET, vendor_delay_ms=100, receipt_flush_ms=20)
    settings = dataclasses.replace(load_settings(), receipt_secret=SECRET)
    load_customers(db, 8, no_sms_consent={0})
    at = ten_tomorrow()
    campaign = scheduled(db, at)
    first, second = (Scheduler(db, settings, lambda: api.url, owner=o) for o in ("scheduler-a", "scheduler-b"))
    assert first.tick(at - timedelta(minutes=1)) == []
    assert first.tick(at) == [campaign.id]
    assert second.tick(at) == []
    wait_for(lambda: not first.busy(), 60, "the scheduled campaign to be handed to the vendor")
    stats = wait_until_settled(db, campaign.id, stall_seconds=60, poll_seconds=0.05)
    assert (stats.audience, stats.sent, stats.pending) == (7, 7, 0)  # c000 refused SMS: taken at the start
    assert db.vendor_messages.count_documents({}) == 7


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda db: users.set_role(CLI, "mia", "viewer", db=db), "mia (viewer) may no longer send campaigns"),
        (
            lambda db: users.set_active(CLI, "mia", False, db=db),
            "mia (marketer, deactivated) may no longer send campaigns",
        ),
    ],
)
def test_a_campaign_whose_owner_may_no_longer_send_is_cancelled_when_due_not_sent(db, change, reason):
    load_customers(db, 3)
    mia, _ = users.add_local_user(CLI, "mia", "marketer", db=db)
    at = ten_tomorrow()
    draft = CampaignDraft.build(name="hers", channel="sms", templates=["Hi"], rules=EVERYONE)
    campaign, _ = schedule_campaign(db, mia, draft, at, zone=ZONE)
    change(db)
    assert start_due(db, at, "scheduler-a", nothing_to_send) == []
    stored = get_campaign(db, campaign.id)
    assert (stored.status, stored.cancel_reason, stored.started_at) == (CANCELLED, reason, None)
    entry = audit.query({"action": "campaign.cancel"}, db=db)[0]
    assert (entry.username, entry.target, entry.details["reason"]) == ("scheduler", campaign.id, reason)
