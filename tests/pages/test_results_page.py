"""History shows what a campaign earned: conversions and revenue of the messaged and the holdout,
the lift, the variants numbered from 1 and the conversion chart; the list of campaigns compares
their revenue and lift."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from crm.analytics import analytic_copy
from crm.campaigns.model import HOLDOUT
from crm.ingest.records import validate_records
from crm.ingest.writer import write_records
from tests.apptest_support import no_failures
from tests.auth_fixtures import sign_in
from tests.campaign_support import load_customers, order, started_campaign
from tests.support import ROOT

STARTED = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def campaign(db, fresh_copies):
    load_customers(db, 40)
    campaign = started_campaign(db, "win back", 30, STARTED, templates=("Hi {{ name }}", "Hello {{ name }}"))
    rows = list(db.communication_log.find({"campaign_id": campaign.id}).sort("customer_id"))
    messaged = [r["customer_id"] for r in rows if r["status"] != HOLDOUT]
    orders = [order(f"o{i}", c, 1000, STARTED + timedelta(days=2)) for i, c in enumerate(messaged[:6])]
    write_records(db, "orders", validate_records("orders", orders).valid)
    yield campaign
    analytic_copy.close_all()


def test_history_shows_the_results_of_a_campaign_with_a_holdout(db, campaign):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    sign_in(at, "marketer")
    at.run()
    at.switch_page("app_pages/history.py")
    at.run()
    no_failures(at)
    metrics = {m.label: m.value for m in at.metric}
    messaged = campaign_stats_audience(db, campaign.id)
    assert metrics["Messaged"] == f"{100 * 6 / messaged:.1f}%"  # converted within the window
    assert metrics["Holdout"] == "0.0%"
    assert metrics["Revenue"] == "₹6,000"
    helps = {m.label: m.help for m in at.metric}
    assert helps["Messaged"] == f"Converted within 7 days: 6 of {messaged:,}"
    assert helps["Revenue"] == "Attributed to the messaged: ₹6,000.00"
    assert any("points" in i.value and "95% CI" in i.value for i in [*at.info, *at.success])
    overview = next(f.value for f in at.dataframe if "lift (pts)" in f.value.columns)
    assert overview["revenue (₹)"].tolist() == [6000.0]
    variants = next(f.value for f in at.dataframe if "vs holdout" in f.value.columns)
    assert variants["variant"].tolist() == [1, 2]
    log = next(f.value for f in at.dataframe if "vendor_message_id" in f.value.columns)
    assert set(log["variant"]) <= {1, 2}


def campaign_stats_audience(db, campaign_id: str) -> int:
    return db.communication_log.count_documents({"campaign_id": campaign_id, "status": {"$ne": HOLDOUT}})
