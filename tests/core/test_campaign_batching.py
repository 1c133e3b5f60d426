"""Batched receipts and sends: arrays of receipts, the receipt journal, the vendor's batch endpoint."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from crm.campaigns import campaign_stats
from crm.campaigns.dispatcher import Outcome, outcome_updates
from crm.campaigns.receipt_journal import JOURNAL, store_receipts
from crm.campaigns.receipts import Receipt
from crm.campaigns.repository import get_campaign, object_id
from crm.campaigns.snapshot import take_snapshot
from crm.config import load_settings
from tests.campaign_support import SECRET, compose, load_customers, log_rows, post_receipt, vendor_auth, wait_for

FAST = dict(receipt_secret=SECRET, vendor_delay_ms=200, receipt_flush_ms=20)
T0 = datetime(2025, 6, 1, 10, 0, 0, 123000, tzinfo=UTC)


@pytest.fixture
def live(start_api):
    return lambda **options: start_api(**{**FAST, **options})


def receipt(campaign_id, customer_id, status="DELIVERED", vendor_id=None, reason=None, seconds=0):
    return {
        "idempotency_key": f"{campaign_id}:{customer_id}",
        "vendor_message_id": vendor_id or f"v-{customer_id}",
        "status": status,
        "reason": reason,
        "occurred_at": (T0 + timedelta(seconds=seconds)).isoformat(),
    }


def snapshot(db, n):
    load_customers(db, n)
    campaign, _ = compose(db)
    take_snapshot(db, get_campaign(db, campaign.id))
    return campaign.id


def settled(db, campaign_id, n):
    return wait_for(lambda: campaign_stats(db, campaign_id).pending == n or None, what=f"{n} pending")


def test_a_batch_mixing_forward_moves_duplicates_and_late_receipts_gives_exact_counters(db, live):
    api = live()
    campaign_id = snapshot(db, 6)
    # c000-c003 were accepted by the vendor; c004's receipt comes before our SENT write (refused for now and
    # sent again once it is recorded); c005 never settles.
    db.communication_log.bulk_write(
        outcome_updates(campaign_id, [Outcome(f"c00{i}", True, f"v-c00{i}", 1) for i in range(4)])
    )
    first = [
        receipt(campaign_id, "c000", seconds=1),
        receipt(campaign_id, "c001", "FAILED", reason="mailbox full", seconds=2),
        receipt(campaign_id, "c002", seconds=3),
        receipt(campaign_id, "c000", seconds=4),  # duplicate in the same batch
        receipt(campaign_id, "c003", "FAILED", reason="number not reachable", seconds=5),
        receipt(campaign_id, "c004", seconds=6),
    ]
    answer = post_receipt(api.url, first)
    assert answer.status_code == 202
    assert [(r["index"], r["retry"]) for r in answer.json()["refused"]] == [(5, True)]
    late = [
        receipt(campaign_id, "c000", "FAILED", reason="handset switched off"),  # after DELIVERED: ignored
        receipt(campaign_id, "c001", "DELIVERED"),  # after FAILED: ignored
        receipt(campaign_id, "c002", seconds=3),
    ]  # plain repeat
    assert post_receipt(api.url, late).status_code == 202
    settled(db, campaign_id, 2)
    db.communication_log.bulk_write(outcome_updates(campaign_id, [Outcome("c004", True, "v-c004", 1)]))
    assert post_receipt(api.url, first[5]).status_code == 202
    settled(db, campaign_id, 1)

    stats = campaign_stats(db, campaign_id)
    assert (stats.audience, stats.sent, stats.delivered, stats.failed, stats.pending) == (6, 5, 3, 2, 1)
    rows = {r["customer_id"]: r for r in log_rows(db, campaign_id)}
    assert {c: (r["status"], r["error"]) for c, r in rows.items()} == {
        "c000": ("DELIVERED", None),
        "c001": ("FAILED", "mailbox full"),
        "c002": ("DELIVERED", None),
        "c003": ("FAILED", "number not reachable"),
        "c004": ("DELIVERED", None),
        "c005": ("PENDING", None),
    }
    for i, customer in enumerate(["c000", "c001", "c002", "c003", "c004"]):
        assert rows[customer]["vendor_message_id"] == f"v-{customer}"
        assert rows[customer]["settled_at"] == T0 + timedelta(seconds=[1, 2, 3, 5, 6][i])  # each row its own time
    assert db[JOURNAL].count_documents({"campaign_id": campaign_id}) == 5  # each receipt stored once


def test_an_array_with_one_bad_receipt_is_refused_whole_naming_its_index(db, live):
    api = live()
    campaign_id = snapshot(db, 2)
    body = [receipt(campaign_id, "c000"), {**receipt(campaign_id, "c001"), "status": "LOST"}]
    response = post_receipt(api.url, body)
    assert response.status_code == 422
    assert [(d["index"], d["field"]) for d in response.json()["error"]["details"]] == [(1, "status")]
    assert db[JOURNAL].count_documents({}) == 0
    assert {r["status"] for r in log_rows(db, campaign_id)} == {"PENDING"}


def test_receipts_stored_by_a_process_that_died_before_applying_them_are_applied_at_the_next_start(db, live):
    campaign_id = snapshot(db, 3)
    db.campaigns.update_one({"_id": object_id(campaign_id)}, {"$set": {"status": "sending"}})
    stored = [
        Receipt.model_validate(receipt(campaign_id, c, status))
        for c, status in (("c000", "DELIVERED"), ("c001", "FAILED"))
    ]
    assert store_receipts(db, stored) == [True, True]  # in the journal, never applied to the log
    live()
    settled(db, campaign_id, 1)
    stats = campaign_stats(db, campaign_id)
    assert (stats.delivered, stats.failed, stats.pending) == (1, 1, 1)


def test_vendor_batch_recognises_repeated_keys_and_answers_each_message(db, live):
    api = live()
    key = f"{'0' * 24}:c"
    message = {"channel": "sms", "to": "+919800000000", "body": "Hi"}
    batch = {
        "messages": [
            {**message, "idempotency_key": f"{key}1"},
            {**message, "idempotency_key": f"{key}2"},
            {**message, "idempotency_key": f"{key}1"},
        ]
    }
    first, again = (
        httpx.post(f"{api.url}/vendor/v1/messages/batch", json=batch, headers=vendor_auth(), timeout=30).json()[
            "results"
        ]
        for _ in range(2)
    )
    assert [r["duplicate"] for r in first] == [False, False, False]
    assert first[0]["id"] == first[2]["id"] != first[1]["id"]  # the same key twice is one message
    assert [r["duplicate"] for r in again] == [True, True, True]
    assert [r["id"] for r in again] == [r["id"] for r in first]
    assert {d["_id"]: d["submissions"] for d in db.vendor_messages.find()} == {f"{key}1": 2, f"{key}2": 2}


@pytest.mark.slow
def test_busy_vendor_messages_are_retried_within_a_batch(db, live):
    from crm.campaigns.dispatcher import dispatch

    api = live(vendor_fault_rate=0.5)
    load_customers(db, 30)
    campaign, _ = compose(db)
    settings = dataclasses.replace(load_settings(), **FAST, campaign_max_attempts=30)
    dispatch(db, campaign.id, settings, api.url)
    rows = log_rows(db, campaign.id)
    assert {r["status"] for r in rows} <= {"SENT", "DELIVERED", "FAILED"} and all(r["accepted"] for r in rows)
    assert len({r["attempts"] for r in rows}) > 1  # each message counts its own tries
    assert db.vendor_messages.count_documents({}) == 30


def test_receipts_a_dead_poster_still_owed_are_posted_by_the_next_vendor_host(db, live):
    campaign_id = snapshot(db, 2)
    db.communication_log.bulk_write(
        outcome_updates(campaign_id, [Outcome(c, True, f"v-{c}", 1) for c in ("c000", "c001")])
    )
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    for customer, posted in (("c000", True), ("c001", False)):  # c000's receipt went out before the crash
        due = long_ago - timedelta(seconds=1) if posted else long_ago + timedelta(seconds=1)
        db.vendor_messages.insert_one(
            {
                "_id": f"{campaign_id}:{customer}",
                "vendor_message_id": f"v-{customer}",
                "poster": "dead",
                "receipt_due_at": due,
                "submissions": 1,
                "receipt": receipt(campaign_id, customer),
            }
        )
    db.vendor_posters.insert_one({"_id": "dead", "posted_through": long_ago, "heartbeat": long_ago})
    api = live()
    message = {"channel": "sms", "to": "+919800000000", "body": "Hi", "idempotency_key": f"{'0' * 24}:x"}
    httpx.post(
        f"{api.url}/vendor/v1/messages/batch", json={"messages": [message]}, headers=vendor_auth(), timeout=30
    )  # its webhook known
    wait_for(
        lambda: {r["customer_id"]: r["status"] for r in log_rows(db, campaign_id)}["c001"] == "DELIVERED",
        what="the owed receipt to be posted",
    )
    assert {r["customer_id"]: r["status"] for r in log_rows(db, campaign_id)}["c000"] == "SENT"  # not owed
    assert db.vendor_posters.find_one({"_id": "dead"})["taken_over_by"] is not None
