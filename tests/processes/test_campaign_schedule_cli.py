"""`campaign send --at`, `campaign list`, `cancel` and `reschedule`, and `python -m crm scheduler`
starting a due campaign as a process of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm.campaigns import wait_until_settled
from crm.campaigns.model import SCHEDULED
from crm.campaigns.repository import get_campaign
from crm.campaigns.scheduler import start_due
from crm.store.clock import utc_now
from tests.campaign_support import EVERYONE, load_customers, wait_for
from tests.support import ROOT, stop_gently


@pytest.fixture
def rules(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(EVERYONE))
    return str(path)


def kolkata(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("Asia/Kolkata")).strftime("%Y-%m-%d %H:%M")


def schedule(cli, rules: str, at: str, name: str = "christmas"):
    return cli("campaign", "send", rules, "--name", name, "--message", "Hi {{ first_name }}", "--at", at)


def test_send_at_list_and_cancel_round_trip(db, cli, rules):
    load_customers(db, 4)
    tomorrow = (utc_now() + timedelta(days=1)).date()
    result = schedule(cli, rules, f"{tomorrow} 10:00")
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stdout.strip().splitlines()[-1])
    expected = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 4, 30, tzinfo=UTC)  # 10:00 in Kolkata
    assert line == {"campaign_id": line["campaign_id"], "status": "scheduled", "scheduled_at": expected.isoformat()}
    assert f"scheduled for {tomorrow} 10:00 Asia/Kolkata" in result.stderr
    assert "the audience is taken when sending starts" in result.stderr
    assert db.communication_log.count_documents({}) == 0

    offset = schedule(cli, rules, f"{tomorrow}T09:00:00+00:00", name="boxing day")
    other = json.loads(offset.stdout.strip().splitlines()[-1])
    assert other["scheduled_at"] == f"{tomorrow}T09:00:00+00:00"

    listed = [json.loads(row) for row in cli("campaign", "list", check=True).stdout.splitlines()]
    assert [(r["campaign_id"], r["status"]) for r in listed] == [
        (other["campaign_id"], "scheduled"),
        (line["campaign_id"], "scheduled"),
    ]  # newest first
    assert listed[1]["scheduled_at"] == expected.isoformat() and listed[1]["started_at"] is None
    assert {"name", "audience", "created_at", "finished_at"} <= set(listed[1])

    moved = cli("campaign", "reschedule", line["campaign_id"], "--at", f"{tomorrow} 11:15", check=True)
    assert json.loads(moved.stdout)["scheduled_at"] == (expected + timedelta(minutes=75)).isoformat()

    cancelled = cli("campaign", "cancel", line["campaign_id"], check=True)
    assert json.loads(cancelled.stdout)["status"] == "cancelled"
    again = cli("campaign", "cancel", line["campaign_id"])
    assert again.returncode == 2
    assert again.stderr == f"error: campaign {line['campaign_id']} was already cancelled\n"
    statuses = {r["campaign_id"]: r["status"] for r in map(json.loads, cli("campaign", "list").stdout.splitlines())}
    assert statuses == {line["campaign_id"]: "cancelled", other["campaign_id"]: "scheduled"}


def test_cancelling_a_campaign_that_started_is_refused_in_one_line(db, cli, rules):
    load_customers(db, 2)
    at = utc_now() + timedelta(hours=2)
    line = json.loads(schedule(cli, rules, kolkata(at)).stdout.strip().splitlines()[-1])
    assert start_due(db, at + timedelta(minutes=1), "scheduler-a", lambda *_: None) == [line["campaign_id"]]
    result = cli("campaign", "cancel", line["campaign_id"])
    assert result.returncode == 2
    [message] = result.stderr.splitlines()
    assert message.startswith(f"error: campaign {line['campaign_id']} started sending at ")
    assert "it can no longer be cancelled" in message


@pytest.mark.parametrize(
    ("at", "says"),
    [
        ("2020-01-01 10:00", "send time: 2020-01-01 10:00 Asia/Kolkata is in the past"),
        ("next friday", "send time: 'next friday' is not a date and time; write it as YYYY-MM-DD HH:MM"),
    ],
)
def test_a_bad_send_time_is_one_line_and_creates_nothing(db, cli, rules, at, says):
    load_customers(db, 2)
    result = schedule(cli, rules, at)
    assert result.returncode == 2
    [message] = result.stderr.splitlines()
    assert message.startswith(f"error: {says}")
    assert db.campaigns.count_documents({}) == 0


def test_send_help_says_when_a_scheduled_campaign_takes_its_audience(cli):
    """(Without --at, `send` sends at once with its usual JSON line: test_campaign_cli.py.)"""
    help_text = " ".join(cli("campaign", "send", "--help").stdout.split())
    assert "--at TIME" in help_text and "the audience is taken when sending starts" in help_text


@pytest.mark.slow
def test_the_scheduler_process_starts_a_due_campaign_and_sends_it(db, crm_env, cli, rules, monkeypatch):
    monkeypatch.setenv("CRM_VENDOR_DELAY_MS", "100")
    load_customers(db, 6)
    at = (utc_now() + timedelta(minutes=1)).replace(second=0, microsecond=0)
    line = json.loads(schedule(cli, rules, kolkata(at)).stdout.strip().splitlines()[-1])
    # Scheduled a minute ahead (to the minute, as people type it), then moved to now + a second: due at once.
    soon = (utc_now() + timedelta(seconds=1)).isoformat()
    cli("campaign", "reschedule", line["campaign_id"], "--at", soon, check=True)
    env = {**os.environ, **crm_env, "CRM_VENDOR_DELAY_MS": "100"}
    process = subprocess.Popen(
        [sys.executable, "-m", "crm", "scheduler", "--interval", "0.2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: get_campaign(db, line["campaign_id"]).status != SCHEDULED, 60, "the scheduler to start it")
        stats = wait_until_settled(db, line["campaign_id"], stall_seconds=60, poll_seconds=0.1)
        assert (stats.audience, stats.delivered + stats.failed, stats.pending) == (6, 6, 0)
    finally:
        stop_gently(process)
    assert process.returncode == 0
