"""Campaign results are exact: the holdout drawn at the snapshot, then conversions and revenue
from MongoDB's log and the analytic copy equal a plain-Python reference on a dataset built to
sit on every edge (an order exactly at the window's end, one a second before the send, one
cancelled later, a holdout member's orders, a customer in two campaigns' windows)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from crm.analytics import analytic_copy
from crm.auth import CLI
from crm.campaigns.model import HOLDOUT, CampaignDraft
from crm.campaigns.repository import campaign_stats, get_campaign
from crm.campaigns.results import campaign_results
from crm.campaigns.service import compose_campaign
from crm.campaigns.snapshot import in_holdout
from crm.errors import InvalidInput
from crm.ingest.records import validate_records
from crm.ingest.writer import write_records
from tests.campaign_support import EVERYONE, load_customers, order, started_campaign

STARTED = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
WINDOW = 7


def reference(db, campaign, orders: list[dict]) -> dict:
    """The results from first principles: the log's rows and the orders as plain dicts."""
    figures = {"messaged": [0, 0, 0], "holdout": [0, 0, 0]}
    for row in db.communication_log.find({"campaign_id": campaign.id}):
        group = "holdout" if row["status"] == HOLDOUT else "messaged"
        start = (row.get("sent_at") or campaign.started_at).replace(tzinfo=UTC)
        if group == "holdout":
            start = campaign.started_at.replace(tzinfo=UTC)
        mine = [
            o
            for o in orders
            if o["customer_id"] == row["customer_id"]
            and o["status"] == "completed"
            and start < datetime.fromisoformat(o["order_date"]) <= start + timedelta(days=WINDOW)
        ]
        figures[group][0] += 1
        figures[group][1] += bool(mine)
        figures[group][2] += sum(int(o["amount"]) * 100 for o in mine)
    return figures


@pytest.fixture
def customers(db, fresh_copies):
    return load_customers(db, 40)


def test_the_holdout_is_drawn_reproducibly_and_never_messaged(db, customers):
    campaign = started_campaign(db, "win back", 30, STARTED)
    held = {r["customer_id"] for r in db.communication_log.find({"campaign_id": campaign.id, "status": HOLDOUT})}
    assert held == {c for c in customers if in_holdout(campaign.id, c, 30)}
    assert 4 <= len(held) <= 20  # about 30% of 40
    assert all(r["message"] is None for r in db.communication_log.find({"status": HOLDOUT}))
    stats = campaign_stats(db, campaign.id)
    assert (stats.audience, stats.holdout, stats.pending) == (40 - len(held), len(held), stats.audience)


def test_results_equal_the_reference_on_every_edge(db, customers):
    first = started_campaign(db, "win back", 30, STARTED)
    second = started_campaign(db, "spring", 0, STARTED + timedelta(days=2))
    rows = {r["customer_id"]: r for r in db.communication_log.find({"campaign_id": first.id})}
    messaged = sorted(c for c, r in rows.items() if r["status"] != HOLDOUT)
    held = sorted(c for c, r in rows.items() if r["status"] == HOLDOUT)
    sent = {c: rows[c]["sent_at"].replace(tzinfo=UTC) for c in messaged}
    m0, m1, m2, m3, m4 = messaged[:5]
    orders = [
        order("at-end", m0, 500, sent[m0] + timedelta(days=WINDOW)),  # exactly at the end: counts
        order("after-end", m0, 900, sent[m0] + timedelta(days=WINDOW, seconds=1)),
        order("before-send", m1, 700, sent[m1] - timedelta(seconds=1)),
        order("cancelled", m2, 1200, sent[m2] + timedelta(days=1)),
        order("two-a", m3, 300, sent[m3] + timedelta(hours=2)),  # two orders: one converter, both revenue
        order("two-b", m3, 450, sent[m3] + timedelta(days=3)),
        order("both", m4, 800, STARTED + timedelta(days=3)),  # inside both campaigns' windows
        order("held", held[0], 650, STARTED + timedelta(days=2)),
        order("held-before", held[1], 650, STARTED - timedelta(minutes=1)),
    ]
    write_records(db, "orders", validate_records("orders", orders).valid)
    results = campaign_results(db, first.id).as_json()
    truth = reference(db, get_campaign(db, first.id), orders)
    for group in ("messaged", "holdout"):
        got = results[group]
        assert [got["recipients"], got["converters"], round(got["revenue"] * 100)] == truth[group]
    assert results["messaged"]["converters"] == 4 and results["messaged"]["revenue"] == 500 + 1200 + 300 + 450 + 800
    assert campaign_results(db, second.id).as_json()["messaged"]["revenue"] >= 800  # "both" counts there too

    # Cancelled later: it stops counting; an order arriving later counts, with no resend.
    db.orders.update_one({"order_id": "cancelled"}, {"$set": {"status": "cancelled", "updated_at": datetime.now(UTC)}})
    write_records(db, "orders", validate_records("orders", [order("late", m1, 99, sent[m1] + timedelta(days=6))]).valid)
    analytic_copy.mark_changed()
    again = campaign_results(db, first.id).as_json()
    assert again["messaged"]["revenue"] == 500 + 300 + 450 + 800 + 99
    assert again["messaged"]["converters"] == 4  # m0, m1 (late), m3, m4; m2's order was cancelled
    assert again["lift"] is not None and again["holdout"]["converters"] == 1
    m_rate, h_rate = again["messaged"]["conversion_rate"], again["holdout"]["conversion_rate"]
    assert again["lift"]["relative"] == pytest.approx((m_rate - h_rate) / h_rate, abs=1e-3)
    assert json.loads(json.dumps(again)) == again  # one JSON object


def test_without_a_holdout_the_results_say_lift_needs_one(db, customers):
    campaign = started_campaign(db, "no holdout", 0, STARTED)
    results = campaign_results(db, campaign.id).as_json()
    assert results["holdout"] is None and results["lift"] is None
    assert "needs a holdout" in results["verdict"]


def test_variants_are_numbered_from_one(db, customers):
    campaign = started_campaign(db, "ab", 20, STARTED, templates=("Hi {{ name }}", "Hello {{ name }}"))
    variants = campaign_results(db, campaign.id).as_json()["variants"]
    assert [v["variant"] for v in variants] == [1, 2]
    assert sum(v["recipients"] for v in variants) == campaign_stats(db, campaign.id).audience


@pytest.mark.parametrize(("holdout", "window"), [(51, 7), (-1, 7), (10, 0), (10, 91)])
def test_a_holdout_or_window_out_of_range_is_refused_in_our_words(holdout, window):
    with pytest.raises(InvalidInput) as refused:
        CampaignDraft.build(name="x", templates=["Hi"], rules=EVERYONE, holdout_percent=holdout, window_days=window)
    assert "from 0 to 50" in refused.value.message or "from 1 to 90" in refused.value.message


def test_the_cli_and_the_api_give_the_same_results_object(db, customers, cli, client):
    campaign = started_campaign(db, "win back", 30, STARTED)
    held = db.communication_log.find_one({"campaign_id": campaign.id, "status": HOLDOUT})["customer_id"]
    write_records(db, "orders", validate_records("orders", [order("h1", held, 650, STARTED + timedelta(days=1))]).valid)
    printed = json.loads(cli("campaign", "results", campaign.id, check=True).stdout)
    served = client.get(f"/api/v1/campaigns/{campaign.id}/results")
    assert served.status_code == 200 and served.json() == printed
    assert printed["holdout"]["converters"] == 1 and printed["holdout"]["revenue"] == 650
    assert set(printed) >= {"campaign_id", "window_days", "messaged", "holdout", "lift", "variants"}
    assert set(printed["lift"]) >= {"conversion_points", "ci_low", "ci_high", "p_value", "incremental_revenue"}
    not_sent, _ = compose_campaign(
        db, CLI, CampaignDraft.build(name="later", channel="sms", templates=["Hi"], rules=EVERYONE)
    )
    missing = client.get(f"/api/v1/campaigns/{not_sent.id}/results")
    assert missing.status_code == 404 and "has not started sending" in missing.text
    assert client.get("/api/v1/campaigns/nonsense/results").status_code in (404, 422)
