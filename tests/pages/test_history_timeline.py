"""The History page's timeline agrees with the campaign's counters: messages sent and waiting for
their receipts, settled, and accepted by the vendor without their send being written.

The log rows are moved the way the sender and the receipt endpoint move them (`outcome_updates`,
`write_receipts`), without HTTP, so each state is exact.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from streamlit.testing.v1 import AppTest

from crm.campaigns import campaign_stats
from crm.campaigns.dispatcher import Outcome, outcome_updates
from crm.campaigns.history import timeline
from crm.campaigns.receipts import Receipt, write_receipts
from crm.campaigns.repository import get_campaign
from crm.campaigns.snapshot import take_snapshot
from crm.store.clock import utc_now
from tests.auth_fixtures import sign_in
from tests.campaign_support import compose, load_customers
from tests.support import ROOT

RECIPIENTS = 40


@pytest.fixture
def campaign(db):
    load_customers(db, RECIPIENTS)
    composed, _ = compose(db)
    take_snapshot(db, get_campaign(db, composed.id))
    return get_campaign(db, composed.id)


def customers(db, campaign_id: str) -> list[str]:
    return sorted(r["customer_id"] for r in db.communication_log.find({"campaign_id": campaign_id}))


def vendor_accepts(db, campaign_id: str, ids: list[str]) -> None:
    db.communication_log.bulk_write(
        outcome_updates(campaign_id, [Outcome(i, True, f"v-{i}", 1, sent_at=utc_now()) for i in ids])
    )


def receipts_arrive(db, campaign_id: str, ids: list[str], failed_every: int = 4) -> None:
    later = utc_now() + timedelta(seconds=2)
    write_receipts(
        db,
        [
            Receipt(
                idempotency_key=f"{campaign_id}:{c}",
                vendor_message_id=f"v-{c}",
                status="FAILED" if n % failed_every == 0 else "DELIVERED",
                reason="number not reachable" if n % failed_every == 0 else None,
                occurred_at=later,
            )
            for n, c in enumerate(ids)
        ],
    )


def last_point(db, campaign_id: str) -> dict[str, int]:
    frame = timeline(db, campaign_id)
    assert not frame.empty
    return {k: int(frame.iloc[-1][k]) for k in ("sent", "delivered", "failed")}


def counters(db, campaign_id: str) -> dict[str, int]:
    stats = campaign_stats(db, campaign_id)
    return {"sent": stats.sent, "delivered": stats.delivered, "failed": stats.failed}


def history_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    sign_in(at, "marketer")
    at.run()
    at.switch_page("app_pages/history.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def timeline_shown(at: AppTest) -> bool:
    """The timeline chart is drawn (the funnel is the other chart) and no 'Nothing sent yet'."""
    return len(at.get("plotly_chart")) == 2 and not any(c.value == "Nothing sent yet." for c in at.caption)


def test_sent_messages_waiting_for_receipts_are_on_the_timeline(db, campaign):
    vendor_accepts(db, campaign.id, customers(db, campaign.id))
    assert last_point(db, campaign.id) == counters(db, campaign.id) == {"sent": RECIPIENTS, "delivered": 0, "failed": 0}
    at = history_page()
    assert {m.label: m.value for m in at.metric}["Sent"] == str(RECIPIENTS)
    assert timeline_shown(at)


def test_a_settled_campaign_ends_its_timeline_at_its_counters(db, campaign):
    ids = customers(db, campaign.id)
    vendor_accepts(db, campaign.id, ids)
    receipts_arrive(db, campaign.id, ids)
    settled = counters(db, campaign.id)
    assert settled["delivered"] + settled["failed"] == RECIPIENTS and settled["failed"] > 0
    assert last_point(db, campaign.id) == settled
    assert timeline_shown(history_page())


def test_messages_accepted_without_their_send_written_still_count_as_sent(db, campaign):
    # The sender stopped after the vendor took these messages and before it wrote that down;
    # the vendor's receipts came anyway. The counters count them as sent (the vendor accepted
    # them); so must the timeline, at the latest when their receipt says what became of them.
    ids = customers(db, campaign.id)
    vendor_accepts(db, campaign.id, ids[:10])
    receipts_arrive(db, campaign.id, ids)
    assert counters(db, campaign.id)["sent"] == RECIPIENTS
    assert last_point(db, campaign.id) == counters(db, campaign.id)
    frame = timeline(db, campaign.id)
    assert (frame["sent"] >= frame["delivered"] + frame["failed"]).all(), "never more settled than sent"


def test_nothing_sent_yet_only_while_nothing_is_sent(db, campaign):
    at = history_page()
    assert any(c.value == "Nothing sent yet." for c in at.caption)
    vendor_accepts(db, campaign.id, customers(db, campaign.id)[:1])
    at.run()
    assert timeline_shown(at)
