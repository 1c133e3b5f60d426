"""The mock vendor posts every receipt at least once: its checkpoint and the sweep behind it."""

from __future__ import annotations

import dataclasses
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from crm.campaigns import get_campaign, wait_until_settled
from crm.campaigns.dispatcher import dispatch
from crm.campaigns.receipts import PATH
from crm.campaigns.signing import HEADER
from crm.config import load_settings
from tests.campaign_support import SECRET, compose, load_customers, log_rows, vendor_auth, wait_for
from tests.support import free_port

FAST = dict(receipt_secret=SECRET, vendor_delay_ms=200, receipt_flush_ms=20)


class LossyLink:
    """Between the vendor and our receipt endpoint: answers the first post 202 and drops it, as a
    broken proxy or a receiver dying after its answer would; forwards every later one."""

    def __init__(self):
        self.target: str | None = None
        self.lost: list[str] = []  # idempotency keys of the dropped post
        self.forwarded: list[str] = []
        link = self

        class Relay(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parsed = json.loads(body)
                keys = [r["idempotency_key"] for r in (parsed if isinstance(parsed, list) else [parsed])]
                with lock:
                    drop = not link.lost
                    (link.lost if drop else link.forwarded).extend(keys)
                if drop:
                    status, answer = 202, json.dumps({"accepted": True, "receipts": len(keys)}).encode()
                else:
                    response = httpx.post(
                        link.target,
                        content=body,
                        timeout=30,
                        headers={HEADER: self.headers[HEADER], "Content-Type": "application/json"},
                    )
                    status, answer = response.status_code, response.content
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Relay)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{PATH}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def lossy():
    link = LossyLink()
    yield link
    link.close()


def test_a_receipt_whose_post_was_lost_is_posted_again_by_the_sweep(db, start_api, lossy, monkeypatch):
    monkeypatch.setenv("CRM_RECEIPT_SWEEP_SECONDS", "1")
    api = start_api(**FAST, receipt_url=lossy.url)
    lossy.target = f"{api.url}{PATH}"
    load_customers(db, 20)
    campaign, _ = compose(db)
    dispatch(db, campaign.id, dataclasses.replace(load_settings(), **FAST), api.url)
    stats = wait_until_settled(db, campaign.id, stall_seconds=30, poll_seconds=0.05)
    assert lossy.lost, "the first post was dropped"
    assert set(lossy.lost) <= set(lossy.forwarded)  # each lost receipt was posted again
    assert (stats.audience, stats.pending, stats.delivered + stats.failed) == (20, 0, 20)
    vendor = {d["_id"]: d["receipt"]["status"] for d in db.vendor_messages.find()}
    assert all(row["status"] == vendor[f"{campaign.id}:{row['customer_id']}"] for row in log_rows(db, campaign.id))
    assert get_campaign(db, campaign.id).status == "completed"


def test_the_checkpoint_never_passes_a_receipt_the_receiver_did_not_acknowledge(db, start_api):
    closed = f"http://127.0.0.1:{free_port()}{PATH}"  # nobody answers there
    api = start_api(**FAST, receipt_url=closed)
    sent = httpx.post(
        f"{api.url}/vendor/v1/messages",
        json={"channel": "sms", "to": "+919800000000", "body": "Hi"},
        headers={"Idempotency-Key": f"{'0' * 24}:c1", **vendor_auth()},
        timeout=30,
    )
    assert sent.status_code == 201
    [record] = list(db.vendor_messages.find())

    def checkpoint_after_due():
        poster = db.vendor_posters.find_one({"_id": record["poster"]})
        return poster if poster and poster["heartbeat"] > record["receipt_due_at"] else None

    # Checkpoints written after the receipt fell due, while its post keeps failing: a poster
    # taking over from here must still find it (its due time is not before the checkpoint).
    for _ in range(3):
        poster = wait_for(checkpoint_after_due, what="a checkpoint after the receipt was due")
        assert poster["posted_through"] <= record["receipt_due_at"]
        heartbeat = poster["heartbeat"]
        wait_for(
            lambda heartbeat=heartbeat: db.vendor_posters.find_one({"_id": record["poster"]})["heartbeat"] > heartbeat,
            what="the next checkpoint",
        )
