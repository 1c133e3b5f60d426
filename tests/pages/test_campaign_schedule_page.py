"""Scheduling from the Campaigns page: a checked draft scheduled for a time in the workspace
zone, listed with that time, moved, then cancelled; History shows it as scheduled."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from crm.auth import CLI, users
from crm.campaigns import CampaignDraft
from crm.campaigns.model import CANCELLED, SCHEDULED
from crm.campaigns.repository import get_campaign
from crm.campaigns.schedule import schedule_campaign
from crm.campaigns.scheduler import start_due
from crm.store.clock import utc_now
from tests.apptest_support import no_failures
from tests.campaign_support import EVERYONE, load_customers
from tests.pages.test_campaign_pages import button, page, use_rule


def test_schedule_from_the_campaigns_page_see_it_listed_move_it_then_cancel_it(db):
    load_customers(db, 4)
    at = page("app_pages/campaigns.py")
    use_rule(at, EVERYONE, "Hi {{ first_name }}")
    assert button(at, "Schedule").disabled  # not before the check has passed
    button(at, "Run the pre-send check").click()
    at.run()
    assert not button(at, "Schedule").disabled

    tomorrow = (utc_now() + timedelta(days=1)).date()
    assert at.date_input(key="cmp_at_day").label == "Send on (Asia/Kolkata)"
    at.date_input(key="cmp_at_day").set_value(tomorrow)
    at.time_input(key="cmp_at_time").set_value(time(10, 0))
    button(at, "Schedule").click()
    at.run()
    no_failures(at)
    assert f"Scheduled for {tomorrow} 10:00 Asia/Kolkata." in [s.value for s in at.success]
    stored = db.campaigns.find_one()
    campaign = get_campaign(db, str(stored["_id"]))
    assert (campaign.name, campaign.status, campaign.owner) == ("Monsoon sale", SCHEDULED, "test-marketer")
    assert campaign.scheduled_at == datetime(tomorrow.year, tomorrow.month, tomorrow.day, 4, 30, tzinfo=UTC)
    assert "Scheduled" in [h.value for h in at.subheader]
    assert f"{tomorrow} 10:00 Asia/Kolkata" in [m.value for m in at.markdown]
    assert db.communication_log.count_documents({}) == 0  # the audience is taken when it starts

    history = page("app_pages/history.py")
    no_failures(history)
    row = history.dataframe[0].value.iloc[0]
    assert (row["status"], row["scheduled for (Asia/Kolkata)"]) == ("scheduled", f"{tomorrow} 10:00")
    assert "Resume sending" not in [b.label for b in history.button]

    at.time_input(key=f"at-time-{campaign.id}").set_value(time(18, 30))  # Change the time
    at.button(key=f"reschedule-{campaign.id}").click()
    at.run()
    no_failures(at)
    assert get_campaign(db, campaign.id).scheduled_at == datetime(
        tomorrow.year, tomorrow.month, tomorrow.day, 13, 0, tzinfo=UTC
    )
    assert f"{tomorrow} 18:30 Asia/Kolkata" in [m.value for m in at.markdown]

    at.button(key=f"cancel-{campaign.id}").click()
    at.run()
    no_failures(at)
    assert get_campaign(db, campaign.id).status == CANCELLED
    assert "Scheduled" not in [h.value for h in at.subheader]


def test_a_time_in_the_past_is_refused_on_the_page(db):
    load_customers(db, 2)
    at = page("app_pages/campaigns.py")
    use_rule(at, EVERYONE, "Hi {{ first_name }}")
    button(at, "Run the pre-send check").click()
    at.run()
    at.date_input(key="cmp_at_day").set_value((utc_now() - timedelta(days=1)).date())
    button(at, "Schedule").click()
    at.run()
    assert any("send time:" in e.value and "is in the past" in e.value for e in at.error)
    assert db.campaigns.count_documents({}) == 0


def test_a_viewer_sees_no_schedule_button(db):
    load_customers(db, 2)
    at = page("app_pages/campaigns.py", role="viewer")
    use_rule(at, EVERYONE, "Hi {{ first_name }}")
    button(at, "Run the pre-send check").click()
    at.run()
    assert "Schedule" not in [b.label for b in at.button]


def test_history_says_why_the_scheduler_cancelled_a_campaign(db):
    load_customers(db, 2)
    mia, _ = users.add_local_user(CLI, "mia", "marketer", db=db)
    due = utc_now() + timedelta(hours=1)
    draft = CampaignDraft.build(name="Hers", channel="sms", templates=["Hi"], rules=EVERYONE)
    schedule_campaign(db, mia, draft, due, zone="Asia/Kolkata")
    users.set_active(CLI, "mia", False, db=db)
    assert start_due(db, due, "scheduler-a", lambda *_: None) == []

    history = page("app_pages/history.py")
    no_failures(history)
    assert history.dataframe[0].value.iloc[0]["status"] == "cancelled"
    assert any(
        "Cancelled when due (mia (marketer, deactivated) may no longer send campaigns)" in c.value
        for c in history.caption
    )
    assert "Resume sending" not in [b.label for b in history.button]
