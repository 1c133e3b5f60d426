"""Dispatcher, mock vendor and receipt endpoint talking over real HTTP (uvicorn on a free port)."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from crm.campaigns import campaign_stats, wait_until_settled
from crm.campaigns.dispatcher import Outcome, dispatch, outcome_updates
from crm.campaigns.lease import Lease
from crm.campaigns.model import status_label
from crm.campaigns.receipt_journal import JOURNAL
from crm.campaigns.repository import get_campaign, object_id
from crm.campaigns.signing import HEADER, sign
from crm.campaigns.snapshot import take_snapshot
from crm.config import load_settings
from crm.errors import Conflict
from tests.campaign_support import SECRET, compose, load_customers, log_rows, post_receipt, vendor_auth, wait_for
from tests.support import free_port

FAST = dict(receipt_secret=SECRET, vendor_delay_ms=200, receipt_flush_ms=20)


@pytest.fixture
def settings(crm_env):
    return dataclasses.replace(load_settings(), **FAST)


@pytest.fixture
def live(start_api):
    """The API (vendor + receipt endpoint) on a free port; options override the settings."""
    return lambda **options: start_api(**{**FAST, **options})


def settle(db, campaign_id):
    return wait_until_settled(db, campaign_id, stall_seconds=60, poll_seconds=0.05)


def row_status(db, campaign_id, customer_id):
    return db.communication_log.find_one({"campaign_id": campaign_id, "customer_id": customer_id})["status"]


def receipt(campaign_id, customer_id, status="DELIVERED", vendor_id=None, reason=None):
    return {
        "idempotency_key": f"{campaign_id}:{customer_id}",
        "vendor_message_id": vendor_id or f"v-{customer_id}",
        "status": status,
        "reason": reason,
        "occurred_at": datetime.now(UTC).isoformat(),
    }


def handed_to_vendor(db, campaign_id, *customers):
    """As the dispatcher records it: the vendor accepted these messages, with id v-<customer>."""
    db.communication_log.bulk_write(outcome_updates(campaign_id, [Outcome(c, True, f"v-{c}", 1) for c in customers]))


def test_campaign_settles_with_exact_counters(db, live, settings):
    api = live(vendor_failure_rate=0.3)
    load_customers(db, 40, no_sms_consent={0, 1, 2}, no_phone={3, 4})
    campaign, _ = compose(db)
    dispatch(db, campaign.id, settings, api.url)
    stats = settle(db, campaign.id)
    rows = log_rows(db, campaign.id)
    vendor = {d["_id"]: d for d in db.vendor_messages.find()}
    assert len(rows) == stats.audience == 35 == len(vendor)
    assert stats.sent == 35 and stats.pending == 0
    delivered = sum(1 for d in vendor.values() if d["receipt"]["status"] == "DELIVERED")
    assert (stats.delivered, stats.failed) == (delivered, 35 - delivered)
    assert 0 < stats.failed < 35  # both outcomes happen (30% failures on 35 messages)
    for row in rows:
        sent = vendor[f"{campaign.id}:{row['customer_id']}"]
        assert row["vendor_message_id"] == sent["vendor_message_id"]
        assert row["status"] == sent["receipt"]["status"] and row["error"] == sent["receipt"]["reason"]
        assert sent["submissions"] == 1 and sent["body"] == row["message"]
        assert row["sent_at"] <= row["settled_at"], "a message is never settled before it was sent"
    assert {r["customer_id"] for r in rows}.isdisjoint({"c000", "c001", "c002", "c003", "c004"})
    done = get_campaign(db, campaign.id)
    assert done.status == "completed" and done.finished_at is not None and done.lease_owner is None
    assert done.counters == stats.model_dump(exclude={"campaign_id"})


def unknown(response: httpx.Response) -> str:
    """The message of a 409 refusing receipts about messages we did not send with that id."""
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "unknown_message" and error["details"]
    return error["message"]


def refusal(response: httpx.Response) -> str:
    """The message of a 401 in the API's error format."""
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "unauthorized" and [d["field"] for d in error["details"]] == [HEADER]
    return error["message"]


def test_stale_future_forged_or_missing_signatures_are_refused_and_nothing_is_stored(db, live):
    api = live()
    load_customers(db, 3)
    campaign, _ = compose(db)
    take_snapshot(db, get_campaign(db, campaign.id))
    handed_to_vendor(db, campaign.id, "c000", "c001")
    now = int(time.time())
    genuine = receipt(campaign.id, "c000")
    captured = sign(SECRET.encode(), json.dumps(genuine).encode(), now)
    tampered = {**genuine, "status": "FAILED", "reason": "forged"}
    stale = refusal(post_receipt(api.url, genuine, timestamp=now - 360))  # 6 minutes (and the time to get there)
    assert re.search(r"is 36\d s old, 6\d s more than the 300 s allowed", stale), stale
    assert "in the future" in refusal(post_receipt(api.url, genuine, timestamp=now + 360))
    assert "does not match the body" in refusal(post_receipt(api.url, tampered, signature=captured))
    assert "does not match the body" in refusal(post_receipt(api.url, genuine, secret="not-the-secret"))
    assert "is missing" in refusal(post_receipt(api.url, genuine, signature=False))
    # A fresh, genuine receipt for another customer is taken and applied; c000's never was.
    assert post_receipt(api.url, receipt(campaign.id, "c001"), timestamp=now).status_code == 202
    wait_for(lambda: row_status(db, campaign.id, "c001") == "DELIVERED", what="the genuine receipt to be applied")
    assert row_status(db, campaign.id, "c000") == "SENT"
    assert db[JOURNAL].count_documents({"_id": genuine["idempotency_key"]}) == 0


def test_malformed_signature_headers_get_a_401_saying_why(db, live):
    api = live()
    body = receipt("0" * 24, "c1")
    digest = sign(SECRET.encode(), json.dumps(body).encode()).split("v1=")[1]
    now = int(time.time())
    cases = [
        ("sha256=" + digest, "exactly one t="),
        (f"t={now}, v1={digest}", "has spaces"),
        (f"t={now},v1={digest},", "is not key=value"),
        (f"t=soon,v1={digest}", "not a whole number"),
        (f"t={now},v1=xyz", "not 64 hex digits"),
        (f"t={now}".encode() + b",v1=\xc3\xa9", "not ASCII"),
        (b"\xff\xfe", "not ASCII"),
    ]
    for header, reason in cases:
        assert reason in refusal(post_receipt(api.url, body, signature=header)), header
    empty = httpx.post(f"{api.url}/api/v1/delivery-receipts", content=json.dumps(body), headers={HEADER: ""})
    assert "is empty" in refusal(empty)


def test_during_a_secret_rotation_the_previous_secret_is_still_accepted(db, live):
    api = live(receipt_secret="rotated-secret", receipt_secret_previous=SECRET)
    load_customers(db, 3)
    campaign, _ = compose(db)
    take_snapshot(db, get_campaign(db, campaign.id))
    handed_to_vendor(db, campaign.id, "c000", "c001", "c002")
    assert post_receipt(api.url, receipt(campaign.id, "c000"), secret=SECRET).status_code == 202
    assert post_receipt(api.url, receipt(campaign.id, "c001"), secret="rotated-secret").status_code == 202
    assert "does not match" in refusal(post_receipt(api.url, receipt(campaign.id, "c002"), secret="older-secret"))
    wait_for(
        lambda: row_status(db, campaign.id, "c001") == "DELIVERED" == row_status(db, campaign.id, "c000"),
        what="both receipts to be applied",
    )


def test_invalid_receipt_is_a_422_naming_the_field(db, live):
    api = live()
    response = post_receipt(api.url, {**receipt("0" * 24, "c1"), "status": "LOST"})
    assert response.status_code == 422
    assert [d["field"] for d in response.json()["error"]["details"]] == ["status"]


def test_duplicate_receipt_is_counted_once_and_status_only_moves_forward(db, live, settings):
    api = live()
    load_customers(db, 3)
    campaign, _ = compose(db)
    take_snapshot(db, get_campaign(db, campaign.id))
    handed_to_vendor(db, campaign.id, "c000")
    first = receipt(campaign.id, "c000", "DELIVERED")
    for _ in range(3):
        assert post_receipt(api.url, first).status_code == 202
    late_failure = receipt(campaign.id, "c000", "FAILED", reason="handset switched off")
    assert post_receipt(api.url, late_failure).status_code == 202
    wait_for(lambda: row_status(db, campaign.id, "c000") == "DELIVERED", what="the receipt to be applied")
    stats = campaign_stats(db, campaign.id)
    assert (stats.delivered, stats.failed, stats.pending, stats.audience) == (1, 0, 2, 3)
    row = db.communication_log.find_one({"campaign_id": campaign.id, "customer_id": "c000"})
    assert row["status"] == "DELIVERED" and row["error"] is None


def test_a_receipt_before_our_sent_write_is_refused_for_now_then_taken(db, live, settings):
    """Out of order: the vendor's receipt lands before the dispatcher records the send."""
    api = live()
    load_customers(db, 2)
    campaign, _ = compose(db)
    take_snapshot(db, get_campaign(db, campaign.id))
    early = receipt(campaign.id, "c000", "FAILED", "v-9", "mailbox full")
    refused = post_receipt(api.url, early)
    assert refused.status_code == 409 and refused.headers["Retry-After"] == "1"
    assert "not recorded yet" in unknown(refused)
    assert db[JOURNAL].count_documents({}) == 0 and row_status(db, campaign.id, "c000") == "PENDING"
    db.communication_log.bulk_write(
        outcome_updates(campaign.id, [Outcome("c000", True, "v-9", 1), Outcome("c001", True, "v-8", 1)])
    )
    assert post_receipt(api.url, early).status_code == 202  # sent again, as the vendor does
    wait_for(lambda: row_status(db, campaign.id, "c000") == "FAILED", what="the receipt to be applied")
    rows = {r["customer_id"]: r for r in log_rows(db, campaign.id)}
    assert rows["c000"]["error"] == "mailbox full" and rows["c000"]["vendor_message_id"] == "v-9"
    assert rows["c001"]["status"] == "SENT" and rows["c001"]["vendor_message_id"] == "v-8"
    stats = campaign_stats(db, campaign.id)
    assert (stats.sent, stats.failed, stats.pending) == (2, 1, 1)


def test_vendor_recognises_a_repeated_idempotency_key(db, live):
    api = live()
    message = {"channel": "sms", "to": "+919800000000", "body": "Hi"}
    headers = {"Idempotency-Key": f"{'0' * 24}:c1", **vendor_auth()}
    first = httpx.post(f"{api.url}/vendor/v1/messages", json=message, headers=headers, timeout=30)
    again = httpx.post(f"{api.url}/vendor/v1/messages", json=message, headers=headers, timeout=30)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert (first.json()["duplicate"], again.json()["duplicate"]) == (False, True)
    [stored] = list(db.vendor_messages.find())
    assert stored["submissions"] == 2
    wait_for(
        lambda: (
            (db.vendor_posters.find_one({"_id": stored["poster"]}) or {}).get(
                "posted_through", stored["receipt_due_at"]
            )
            > stored["receipt_due_at"]
        ),
        what="the receipt to be posted",
    )


@pytest.mark.slow
def test_retries_on_5xx_until_the_vendor_accepts(db, live, settings):
    api = live(vendor_fault_rate=0.5)
    load_customers(db, 20)
    campaign, _ = compose(db)
    dispatch(db, campaign.id, dataclasses.replace(settings, campaign_max_attempts=30), api.url)
    stats = settle(db, campaign.id)
    assert stats.sent == stats.audience == 20 and stats.pending == 0
    rows = log_rows(db, campaign.id)
    assert max(r["attempts"] for r in rows) > 1
    assert db.vendor_messages.count_documents({}) == 20


def test_unreachable_vendor_fails_each_message_with_its_reason(db, settings):
    load_customers(db, 4)
    campaign, _ = compose(db)
    closed = f"http://127.0.0.1:{free_port()}"
    dispatch(db, campaign.id, dataclasses.replace(settings, campaign_max_attempts=2), closed)
    stats = campaign_stats(db, campaign.id)
    assert (stats.audience, stats.sent, stats.failed, stats.pending) == (4, 0, 4, 0)
    for row in log_rows(db, campaign.id):
        assert row["attempts"] == 2 and row["error"].startswith("not accepted after 2 attempt(s)")


def test_two_dispatchers_one_wins_and_nobody_gets_two_messages(db, live, settings):
    api = live()
    load_customers(db, 30)
    campaign, _ = compose(db)
    slow = dataclasses.replace(settings, campaign_rate_per_second=30)
    outcomes: list = []
    start = threading.Barrier(2)

    def run(owner):
        start.wait()
        try:
            dispatch(db, campaign.id, slow, api.url, owner=owner)
            outcomes.append("sent")
        except Conflict as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=run, args=(f"dispatcher-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(outcomes)[-1] == "sent" and "is being sent by dispatcher-" in sorted(outcomes)[0]
    settle(db, campaign.id)
    assert all(d["submissions"] == 1 for d in db.vendor_messages.find())
    assert db.vendor_messages.count_documents({}) == 30


def test_an_expired_lease_can_be_taken_over_and_a_live_one_cannot(db, settings):
    load_customers(db, 1)
    campaign, _ = compose(db)
    holder = Lease(db, campaign.id, seconds=60, owner="holder")
    holder.claim()
    with pytest.raises(Conflict, match="being sent by holder"):
        Lease(db, campaign.id, seconds=60, owner="other").claim()
    db.campaigns.update_one(
        {"_id": object_id(campaign.id)}, {"$set": {"lease_until": datetime(2020, 1, 1, tzinfo=UTC)}}
    )
    Lease(db, campaign.id, seconds=60, owner="other").claim()
    assert not holder.renew()  # the old holder learns it lost the campaign


def test_a_completed_campaign_is_not_sent_again(db, live, settings):
    api = live()
    load_customers(db, 2)
    campaign, _ = compose(db)
    dispatch(db, campaign.id, settings, api.url)
    settle(db, campaign.id)
    assert get_campaign(db, campaign.id).status == "completed"
    with pytest.raises(Conflict, match="already been sent"):
        dispatch(db, campaign.id, settings, api.url)


def test_a_campaign_is_completed_only_when_every_receipt_is_in(db, live, settings):
    closed = f"http://127.0.0.1:{free_port()}/api/v1/delivery-receipts"
    api = live(receipt_url=closed)  # the vendor's receipts go nowhere
    load_customers(db, 5)
    campaign, _ = compose(db)
    dispatch(db, campaign.id, settings, api.url)
    stats = campaign_stats(db, campaign.id)
    assert (stats.sent, stats.pending) == (5, 5)
    awaiting = get_campaign(db, campaign.id)
    assert awaiting.status == "awaiting_receipts" and awaiting.finished_at is None
    assert status_label(awaiting.status, stats.pending) == "awaiting receipts (5 outstanding)"
    for row in log_rows(db, campaign.id):  # the receipts arrive after all
        vendor_id = db.vendor_messages.find_one({"_id": f"{campaign.id}:{row['customer_id']}"})["vendor_message_id"]
        assert post_receipt(api.url, receipt(campaign.id, row["customer_id"], vendor_id=vendor_id)).status_code == 202
    assert settle(db, campaign.id).delivered == 5
    done = get_campaign(db, campaign.id)
    assert done.status == "completed" and done.finished_at is not None


def test_a_receipt_with_a_made_up_vendor_id_is_refused_and_nothing_is_stored(db, live):
    api = live()
    load_customers(db, 2)
    campaign, _ = compose(db)
    take_snapshot(db, get_campaign(db, campaign.id))
    handed_to_vendor(db, campaign.id, "c000")
    forged = post_receipt(api.url, receipt(campaign.id, "c000", "DELIVERED", "made-up-id"))
    assert forged.status_code == 409 and "Retry-After" not in forged.headers
    error = forged.json()["error"]
    assert error["code"] == "unknown_message" and "not the vendor message id" in error["message"]
    assert [(d["index"], d["field"]) for d in error["details"]] == [(None, "vendor_message_id")]
    # another customer's vendor id does not fit this message either
    assert post_receipt(api.url, receipt(campaign.id, "c000", vendor_id="v-c001")).status_code == 409
    assert db[JOURNAL].count_documents({}) == 0
    assert row_status(db, campaign.id, "c000") == "SENT"
    assert campaign_stats(db, campaign.id).delivered == 0


@pytest.mark.parametrize(
    ("campaign_id", "customer_id"), [(None, "nobody"), ("0" * 24, "c000")], ids=["unknown customer", "unknown campaign"]
)
def test_a_receipt_for_a_message_we_never_sent_is_refused(db, live, campaign_id, customer_id):
    api = live()
    load_customers(db, 1)
    campaign, _ = compose(db)
    take_snapshot(db, get_campaign(db, campaign.id))
    handed_to_vendor(db, campaign.id, "c000")
    refused = post_receipt(api.url, receipt(campaign_id or campaign.id, customer_id, vendor_id="v-c000"))
    assert refused.status_code == 409
    assert "no message of ours has this idempotency key" in unknown(refused)
    assert [d["field"] for d in refused.json()["error"]["details"]] == ["idempotency_key"]
    assert db[JOURNAL].count_documents({}) == 0 and row_status(db, campaign.id, "c000") == "SENT"


def test_a_batch_settles_its_good_receipts_and_lists_the_refused_ones(db, live):
    api = live()
    load_customers(db, 3)
    campaign, _ = compose(db)
    take_snapshot(db, get_campaign(db, campaign.id))
    handed_to_vendor(db, campaign.id, "c000", "c001")
    batch = [
        receipt(campaign.id, "c000"),
        receipt(campaign.id, "c001", vendor_id="forged"),
        receipt(campaign.id, "c002"),
        receipt(campaign.id, "c999"),
    ]
    answer = post_receipt(api.url, batch)
    assert answer.status_code == 202
    body = answer.json()
    assert body["receipts"] == 1
    assert [(r["index"], r["field"], r["retry"]) for r in body["refused"]] == [
        (1, "vendor_message_id", False),
        (2, "vendor_message_id", True),
        (3, "idempotency_key", False),
    ]
    wait_for(lambda: row_status(db, campaign.id, "c000") == "DELIVERED", what="the good receipt to be applied")
    assert [d["_id"] for d in db[JOURNAL].find()] == [f"{campaign.id}:c000"]
    assert (row_status(db, campaign.id, "c001"), row_status(db, campaign.id, "c002")) == ("SENT", "PENDING")
    # a batch with nothing good in it is refused whole, saying which and why
    none_good = post_receipt(api.url, batch[1:2] + batch[3:])
    assert none_good.status_code == 409
    assert [d["index"] for d in none_good.json()["error"]["details"]] == [0, 1]


def send_one(url: str, campaign_id: str, customer_id: str, headers: dict) -> httpx.Response:
    return httpx.post(
        f"{url}/vendor/v1/messages",
        json={"channel": "sms", "to": "+919800000000", "body": "Hi"},
        headers={"Idempotency-Key": f"{campaign_id}:{customer_id}", **headers},
        timeout=30,
    )


def send_batch(url: str, campaign_id: str, customer_id: str, headers: dict) -> httpx.Response:
    message = {"channel": "sms", "to": "+919800000000", "body": "Hi", "idempotency_key": f"{campaign_id}:{customer_id}"}
    return httpx.post(f"{url}/vendor/v1/messages/batch", json={"messages": [message]}, headers=headers, timeout=30)


@pytest.mark.parametrize("send", [send_one, send_batch], ids=["one", "batch"])
@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "send the vendor key"),
        ({"Authorization": "Basic dmVuZG9yOmtleQ=="}, "send the vendor key"),
        (vendor_auth("not-the-vendor-key"), "is not valid"),
    ],
    ids=["no key", "not bearer", "wrong key"],
)
def test_the_vendor_refuses_a_sender_without_its_key_and_stores_nothing(db, live, send, headers, reason):
    api = live()
    load_customers(db, 2)
    campaign, _ = compose(db)
    take_snapshot(db, get_campaign(db, campaign.id))
    refused = send(api.url, campaign.id, "c000", headers)
    assert refused.status_code == 401, refused.text
    assert refused.headers["content-type"] == "application/json"
    error = refused.json()["error"]
    assert error["code"] == "unauthorized" and reason in error["message"]
    assert [d["field"] for d in error["details"]] == ["Authorization"]
    assert db.vendor_messages.count_documents({}) == 0
    # The vendor's own key gets through, and its receipt settles c001; c000's never comes.
    accepted = send(api.url, campaign.id, "c001", vendor_auth())
    assert accepted.is_success
    vendor_id = accepted.json()["id"] if "id" in accepted.json() else accepted.json()["results"][0]["id"]
    db.communication_log.bulk_write(outcome_updates(campaign.id, [Outcome("c001", True, vendor_id, 1)]))
    wait_for(lambda: row_status(db, campaign.id, "c001") != "PENDING", what="the accepted message's receipt")
    assert row_status(db, campaign.id, "c000") == "PENDING"
    assert [d["_id"] for d in db.vendor_messages.find()] == [f"{campaign.id}:c001"]
    assert db[JOURNAL].count_documents({"_id": f"{campaign.id}:c000"}) == 0


class Listener:
    """An HTTP server on a free port that records every request it gets."""

    def __init__(self):
        self.requests: list[tuple[str, str]] = []
        listener = self

        class Record(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                listener.requests.append((self.path, body.decode("utf-8", "replace")))
                self.send_response(202)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Record)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener():
    other = Listener()
    yield other
    other.close()


@pytest.mark.parametrize("send", [send_one, send_batch], ids=["one", "batch"])
def test_a_forged_host_header_does_not_redirect_receipts(db, live, settings, listener, send):
    api = live()
    load_customers(db, 6)
    campaign, _ = compose(db)
    take_snapshot(db, get_campaign(db, campaign.id))
    forged = {**vendor_auth(), "Host": f"127.0.0.1:{listener.port}", "X-Forwarded-Host": f"127.0.0.1:{listener.port}"}
    assert send(api.url, campaign.id, "c000", forged).is_success  # the first call the vendor gets
    assert send(api.url, campaign.id, "c001", vendor_auth()).is_success
    dispatch(db, campaign.id, settings, api.url)  # and the rest of the campaign, as the dispatcher sends it
    stats = settle(db, campaign.id)
    assert (stats.audience, stats.pending, stats.delivered + stats.failed) == (6, 0, 6)
    assert listener.requests == []
