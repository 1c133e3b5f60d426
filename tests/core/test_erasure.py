"""Erasing a customer: gone from MongoDB, the analytic copy, its snapshot and every export;
campaign counters stay exact; a second erase is 404; only an admin or an API key may erase."""

from __future__ import annotations

import dataclasses
import json

import pytest

from crm.analytics import analytic_copy
from crm.analytics.segment_preview import count, preview
from crm.auth import CLI, SystemPrincipal, audit
from crm.campaigns import campaign_stats, get_campaign, wait_until_settled
from crm.campaigns.dispatcher import dispatch
from crm.campaigns.snapshot import take_snapshot
from crm.config import load_settings
from crm.errors import Forbidden, NotFound
from crm.ingest.erasure import ERASED, erase_customer
from crm.ingest.records import validate_records
from crm.ingest.writer import write_records
from tests.campaign_support import EVERYONE, SECRET, compose, load_customers

FAST = dict(receipt_secret=SECRET, vendor_delay_ms=200, receipt_flush_ms=20)
ORDERS = [
    {"order_id": f"o{i}", "customer_id": f"c00{i % 3}", "amount": "100", "order_date": f"2025-01-0{i + 1}"}
    for i in range(6)
]


def shop(db, n: int = 6) -> None:
    load_customers(db, n)
    write_records(db, "orders", validate_records("orders", ORDERS).valid)
    analytic_copy.close_all()


def in_copy(customer_id: str) -> dict[str, int]:
    cur = analytic_copy.open_copy().cursor()
    return {
        table: cur.execute(f"SELECT count(*) FROM {table} WHERE customer_id = ?", [customer_id]).fetchall()[0][0]
        for table in ("customers", "orders", "customer_features")
    }


def test_an_erased_customer_is_gone_everywhere_and_counters_stay_exact(db, start_api, tmp_path, cli):
    shop(db)
    api = start_api(**FAST)
    settings = dataclasses.replace(load_settings(), **FAST)
    campaign, _ = compose(db)
    dispatch(db, campaign.id, settings, api.url)
    before = wait_until_settled(db, campaign.id, stall_seconds=60, poll_seconds=0.05)
    assert in_copy("c001") == {"customers": 1, "orders": 2, "customer_features": 1}  # the copy is open

    report = erase_customer(db, "c001", by=CLI)
    assert (report.orders, report.messages, report.unsent) == (2, 1, 0)
    assert db.customers.count_documents({"customer_id": "c001"}) == 0
    assert db.orders.count_documents({"customer_id": "c001"}) == 0
    row = db.communication_log.find_one({"campaign_id": campaign.id, "customer_id": "c001"})
    assert row["to"] == row["message"] == ERASED and row["status"] in ("DELIVERED", "FAILED")
    assert db.vendor_messages.find_one({"_id": f"{campaign.id}:c001"})["to"] == ERASED
    assert campaign_stats(db, campaign.id) == before  # exact: the row still counts

    assert in_copy("c001") == {"customers": 0, "orders": 0, "customer_features": 0}
    assert count(EVERYONE) == 5 and "c001" not in {row["customer_id"] for row in preview(EVERYONE).sample}
    analytic_copy.close_all()  # a new process: loads the snapshot file, which was rewritten
    assert in_copy("c001") == {"customers": 0, "orders": 0, "customer_features": 0}

    rules = tmp_path / "all.json"
    rules.write_text(json.dumps(EVERYONE))
    out = tmp_path / "all.csv"
    cli("segment", "export", str(rules), "-o", str(out), check=True)
    exported = out.read_text()
    assert "c001" not in exported and "asha1@example.com" not in exported and exported.count("\n") == 6

    entry = audit.query({"action": "customer.erase"}, db=db)[0]
    assert (entry.username, entry.target) == ("cli", "c001")
    assert "Asha" not in json.dumps(entry.details)  # by id only
    with pytest.raises(NotFound):
        erase_customer(db, "c001", by=CLI)


def test_a_message_not_sent_yet_is_settled_as_failed_instead_of_going_out(db):
    shop(db, 3)
    campaign, _ = compose(db)
    take_snapshot(db, get_campaign(db, campaign.id))
    assert erase_customer(db, "c002", by=CLI).unsent == 1
    row = db.communication_log.find_one({"campaign_id": campaign.id, "customer_id": "c002"})
    assert (row["status"], row["to"], row["error"]) == ("FAILED", ERASED, "customer erased before sending")
    stats = campaign_stats(db, campaign.id)
    assert (stats.audience, stats.failed, stats.pending) == (3, 1, 2)


@pytest.mark.parametrize("role", ["viewer", "marketer"])
def test_only_an_admin_or_an_api_key_may_erase(db, role):
    shop(db, 2)
    with pytest.raises(Forbidden):
        erase_customer(db, "c000", by=SystemPrincipal("intern", role))
    assert db.customers.count_documents({"customer_id": "c000"}) == 1


def test_the_api_erases_with_a_key_and_answers_404_the_second_time(client, db):
    shop(db, 2)
    first = client.delete("/api/v1/customers/c000")
    assert first.status_code == 200 and first.json()["orders"] == 2
    second = client.delete("/api/v1/customers/c000")
    assert second.status_code == 404 and second.json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/customers/c000").status_code == 404
    assert audit.query({"action": "customer.erase"}, db=db)[0].username.startswith("api key ")


def test_the_cli_erases_and_exits_2_when_there_is_nobody_to_erase(cli, db):
    shop(db, 2)
    result = cli("customer", "erase", "c001", check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1])["customer_id"] == "c001"
    again = cli("customer", "erase", "c001")
    assert again.returncode == 2 and "already erased" in again.stderr


def test_a_customer_imported_again_after_an_erasure_is_kept(db):
    shop(db, 2)
    assert in_copy("c000")["customers"] == 1
    erase_customer(db, "c000", by=CLI)
    load_customers(db, 1)
    assert in_copy("c000")["customers"] == 1 and count(EVERYONE) == 2
