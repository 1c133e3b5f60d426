"""`campaign send|resume|stats` as child processes, including kill -9 in the middle of a send."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from crm.campaigns.dispatcher import Outcome, outcome_updates
from crm.campaigns.lease import Lease
from crm.campaigns.model import AWAITING
from crm.campaigns.repository import get_campaign
from crm.campaigns.snapshot import take_snapshot
from tests.campaign_support import EVERYONE, compose, load_customers, wait_for
from tests.support import ROOT

# The contract's keys and meanings, then "holdout" (customers held out at random; not in audience).
KEYS = ["campaign_id", "audience", "sent", "delivered", "failed", "pending", "holdout"]


@pytest.fixture
def rules(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(EVERYONE))
    return str(path)


@pytest.fixture
def fast(monkeypatch):
    monkeypatch.setenv("CRM_VENDOR_DELAY_MS", "200")
    monkeypatch.setenv("CRM_RECEIPT_FLUSH_MS", "20")


def last_json(result) -> dict:
    line = result.stdout.strip().splitlines()[-1]
    data = json.loads(line)
    assert list(data) == KEYS
    return data


def test_send_with_wait_ends_with_settled_counters(db, run_cli, rules, fast):
    load_customers(db, 25, no_sms_consent={0})
    result = run_cli(
        "campaign",
        "send",
        rules,
        "--name",
        "diwali",
        "--message",
        "Hi {{ first_name }}, Diwali offers in {{ city }}",
        "--wait",
        check=True,
    )
    stats = last_json(result)
    assert stats["audience"] == stats["sent"] == 24 and stats["pending"] == 0
    assert stats["delivered"] + stats["failed"] == 24
    assert stats["delivered"] == db.communication_log.count_documents({"status": "DELIVERED"})
    again = last_json(run_cli("campaign", "stats", stats["campaign_id"], check=True))
    assert again == stats
    assert db.audit_log.count_documents({"action": "campaign.send", "target": stats["campaign_id"]}) == 1


def test_send_without_wait_returns_and_receipts_still_arrive(db, run_cli, rules, fast):
    load_customers(db, 10)
    stats = last_json(run_cli("campaign", "send", rules, "--name", "n", "--message", "Hi", check=True))
    assert stats["audience"] == stats["sent"] == 10
    # the process stayed until its in-process vendor had posted every receipt
    after = last_json(run_cli("campaign", "stats", stats["campaign_id"], check=True))
    assert after["pending"] == 0 and after["delivered"] + after["failed"] == 10


def test_template_errors_fail_with_one_line_and_create_nothing(db, run_cli, rules):
    load_customers(db, 3, no_city={1})
    unknown = run_cli("campaign", "send", rules, "--name", "x", "--message", "Hi {{ frist_name }}")
    empty = run_cli("campaign", "send", rules, "--name", "x", "--message", "In {{ city }}")
    assert unknown.returncode == empty.returncode == 2
    assert unknown.stderr.strip().startswith("error: template 1: unknown placeholder {{ frist_name }}")
    assert "{{ city }} is empty for 1 customer(s)" in empty.stderr
    assert "Traceback" not in unknown.stderr + empty.stderr
    assert db.campaigns.count_documents({}) == 0


def test_stats_of_an_unknown_campaign_is_a_clear_error(db, run_cli):
    result = run_cli("campaign", "stats", "nope")
    assert result.returncode == 2 and result.stderr.strip() == "error: no campaign with id 'nope'"


def test_kill_9_mid_send_then_resume_sends_each_customer_exactly_once(db, crm_env, run_cli, rules):
    """kill -9 of `send --wait` about half-way through 2,000 messages, then `resume --wait`:
    every message sent once, every receipt in (0 lost, 0 stuck), and the campaign completed."""
    audience, kill_at = 2_000, 1_000
    load_customers(db, audience)
    env = {
        **os.environ,
        **crm_env,
        "CRM_CAMPAIGN_RATE_PER_SECOND": "0",
        "CRM_CAMPAIGN_LEASE_SECONDS": "3",
        "CRM_VENDOR_DELAY_MS": "800",
        "CRM_RECEIPT_FLUSH_MS": "20",
        "CRM_RECEIPT_SWEEP_SECONDS": "2",
    }
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crm",
            "campaign",
            "send",
            rules,
            "--name",
            "crash",
            "--message",
            "Hi {{ first_name }}",
            "--wait",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: db.vendor_messages.count_documents({}) >= kill_at,
            timeout=120,
            every=0.01,
            what="the vendor to accept the first messages",
        )
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    campaign = db.campaigns.find_one()
    campaign_id = str(campaign["_id"])
    accepted_at_kill = db.vendor_messages.count_documents({})
    at_kill = {s: db.communication_log.count_documents({"status": s}) for s in ("PENDING", "SENT")}
    assert at_kill["PENDING"] > 0 and campaign["status"] == "sending"  # really stopped mid-way
    wait_for(
        lambda: db.campaigns.find_one()["lease_until"] < datetime.now(UTC),
        timeout=30,
        what="the dead dispatcher's lease to expire",
    )

    resumed = subprocess.run(
        [sys.executable, "-m", "crm", "campaign", "resume", campaign_id, "--wait"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    rows = list(db.communication_log.find({"campaign_id": campaign_id}))
    assert len(rows) == len({r["customer_id"] for r in rows}) == audience
    vendor = {d["_id"]: d for d in db.vendor_messages.find()}
    assert len(vendor) == audience  # one vendor message per customer, whatever was resent
    stuck = sum(1 for r in rows if r["status"] in ("PENDING", "SENT"))
    lost = sum(1 for r in rows if r["status"] != vendor[f"{campaign_id}:{r['customer_id']}"]["receipt"]["status"])
    resent = sum(d["submissions"] - 1 for d in vendor.values())
    print(
        f"kill -9 with {accepted_at_kill} of {audience} accepted by the vendor, log {at_kill}: "
        f"{resent} resubmissions recognised, {lost} lost, {stuck} stuck"
    )
    assert (lost, stuck) == (0, 0)
    stats = last_json(resumed)
    assert stats["audience"] == stats["sent"] == audience and stats["pending"] == 0
    for row in rows:
        sent = vendor[f"{campaign_id}:{row['customer_id']}"]
        assert row["vendor_message_id"] == sent["vendor_message_id"]
        assert row["status"] == sent["receipt"]["status"]
    delivered = sum(1 for d in vendor.values() if d["receipt"]["status"] == "DELIVERED")
    assert (stats["delivered"], stats["failed"]) == (delivered, audience - delivered)
    finished = db.campaigns.find_one()
    assert finished["status"] == "completed" and finished["finished_at"] is not None


def test_stats_of_a_campaign_awaiting_receipts_says_how_many_are_outstanding(db, run_cli):
    load_customers(db, 3)
    campaign, _ = compose(db)
    take_snapshot(db, get_campaign(db, campaign.id))
    db.communication_log.bulk_write(
        outcome_updates(campaign.id, [Outcome(f"c00{i}", True, f"v-{i}", 1) for i in range(3)])
    )
    lease = Lease(db, campaign.id, 30)  # as a dispatcher that handed every message to the vendor
    lease.claim()
    lease.release(AWAITING)
    result = run_cli("campaign", "stats", campaign.id, check=True)
    assert last_json(result)["pending"] == 3
    assert (
        f"campaign {campaign.id}: awaiting receipts (3 outstanding); "
        f"`python -m crm campaign resume {campaign.id} --wait` settles them"
    ) in result.stderr
