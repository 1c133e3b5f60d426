"""The analytic copy follows MongoDB: incremental refresh, rebuild, snapshots, other processes."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from bson.int64 import Int64

from crm import analytics
from crm.analytics import analytic_copy
from crm.analytics.analytic_copy import AnalyticCopy, mark_changed, open_copy
from crm.analytics.mongo_read import read_changed
from crm.analytics.segment_preview import count
from crm.config import load_settings
from crm.ingest.records import validate_records
from crm.ingest.writer import write_records
from crm.segment_engine.features import SURROGATE_COLUMNS

MUMBAI = {"op": "and", "rules": [{"field": "city", "operator": "=", "value": "Mumbai"}]}
SPENDERS = {"op": "and", "rules": [{"field": "total_spend", "operator": ">=", "value": 100}]}


pytestmark = pytest.mark.usefixtures("fresh_copies")  # each test opens its own analytic copy


def write(db, kind, rows):
    result = validate_records(kind, rows)
    assert not result.errors, result.errors
    return write_records(db, kind, result.valid)


def features(copy: AnalyticCopy) -> list[tuple]:
    # As text: equal values print equally, and timestamps need no time-zone package.
    # Surrogate integers are numbered in a different order by a refresh than by a rebuild.
    excluded = ", ".join(["created_at", "updated_at", *SURROGATE_COLUMNS])
    return (
        copy.cursor()
        .execute(f"SELECT CAST(COLUMNS(* EXCLUDE ({excluded})) AS VARCHAR) FROM customer_features ORDER BY customer_id")
        .fetchall()
    )


def test_pymongoarrow_round_trips_dates_unicode_paise_and_tags(db):
    when = datetime(2024, 2, 29, 23, 59, 58, 123000, tzinfo=UTC)
    db.customers.insert_one(
        {
            "customer_id": "c1",
            "name": "Zoë 東京 🚀",
            "tags": ["vip", "नया"],
            "consent": {
                "email": {"status": "yes", "source": "file a.csv", "at": when},
                "sms": {"status": "no", "source": "api key k", "at": when},
            },
            "age": 41,
            "signup_date": when,
            "created_at": when,
            "updated_at": when,
        }
    )
    db.orders.insert_one(
        {
            "order_id": "o1",
            "customer_id": "c1",
            "amount": Int64(2**53 + 7),
            "status": "completed",
            "order_date": when,
            "created_at": when,
            "updated_at": when,
        }
    )
    customer = read_changed(db, "customers", None).to_pylist()[0]
    order = read_changed(db, "orders", when - timedelta(seconds=1)).to_pylist()[0]
    assert customer["name"] == "Zoë 東京 🚀" and customer["tags"] == ["vip", "नया"]
    assert customer["consent"] == {"email": {"status": "yes"}, "sms": {"status": "no"}, "whatsapp": {"status": None}}
    assert customer["signup_date"] == when.replace(tzinfo=None)
    assert order["amount"] == 2**53 + 7 and isinstance(order["amount"], int)
    assert read_changed(db, "orders", when + timedelta(milliseconds=1)).num_rows == 0


def test_importing_the_mongo_reader_prints_no_warnings():
    result = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c", "import crm.analytics.mongo_read"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_writes_reach_an_open_copy_through_after_write(db):
    write(db, "customers", [{"customer_id": "c1", "city": "Mumbai"}, {"customer_id": "c2", "city": "Pune"}])
    assert count(MUMBAI) == 1 and count(SPENDERS) == 0
    write(db, "customers", [{"customer_id": "c3", "city": " mumbai "}])  # insert
    write(db, "customers", [{"customer_id": "c2", "city": "Mumbai"}])  # update
    write(db, "orders", [{"order_id": "o1", "customer_id": "c1", "amount": "150", "order_date": "2025-01-02"}])
    assert count(MUMBAI) == 3
    assert count(SPENDERS) == 1
    write(db, "orders", [{"order_id": "o1", "customer_id": "c1", "amount": "10", "order_date": "2025-01-02"}])
    assert count(SPENDERS) == 0


def test_an_order_moved_to_another_customer_updates_both(db):
    write(db, "customers", [{"customer_id": "a"}, {"customer_id": "b"}])
    write(db, "orders", [{"order_id": "o1", "customer_id": "a", "amount": "500", "order_date": "2025-01-02"}])
    copy = open_copy()
    write(db, "orders", [{"order_id": "o1", "customer_id": "b", "amount": "500", "order_date": "2025-01-02"}])
    spend = dict(copy.cursor().execute("SELECT customer_id, total_spend_paise FROM customer_features").fetchall())
    assert spend == {"a": 0, "b": 50_000}


def test_rebuild_equals_incremental_refresh(db):
    write(
        db,
        "customers",
        [
            {"customer_id": f"c{i}", "city": ["Mumbai", "Pune", ""][i % 3], "tags": ["vip"] if i % 2 else []}
            for i in range(20)
        ],
    )
    incremental = open_copy()
    for step in range(3):
        write(
            db,
            "orders",
            [
                {
                    "order_id": f"o{step}-{i}",
                    "customer_id": f"c{(i * 7 + step) % 20}",
                    "amount": f"{100 + i}.5{step}",
                    "status": ["completed", "cancelled"][i % 2],
                    "order_date": f"2025-0{step + 1}-1{i % 10}",
                }
                for i in range(15)
            ],
        )
        write(db, "customers", [{"customer_id": f"c{step}", "city": "Delhi"}])
    rebuilt = AnalyticCopy(load_settings())
    rebuilt.rebuild()
    assert features(incremental) == features(rebuilt)
    assert incremental.counts() == rebuilt.counts() == {"customers": 20, "orders": 45}


def test_unchanged_rows_read_again_in_the_overlap_are_not_reapplied(db):
    write(db, "customers", [{"customer_id": "c1"}])
    copy = open_copy()
    version = copy.data_version
    assert copy.refresh() == 0  # c1 is inside the overlap window, read again, but unchanged
    assert copy.data_version == version


def test_a_late_commit_with_an_older_updated_at_is_not_skipped(db):
    write(db, "customers", [{"customer_id": "c1", "city": "Mumbai"}])
    copy = open_copy()
    copy.refresh()
    # A write stamped before the last refresh but committed after it (another slow writer).
    stamped = datetime.now(UTC) - timedelta(seconds=3)
    db.customers.insert_one(
        {"customer_id": "late", "city": "Mumbai", "tags": [], "created_at": stamped, "updated_at": stamped}
    )
    assert copy.refresh() == 1
    assert count(MUMBAI) == 2


def test_writes_by_another_process_are_seen_through_the_marker_file(db):
    write(db, "customers", [{"customer_id": "c1", "city": "Mumbai"}])
    copy = open_copy()
    now = datetime.now(UTC)
    db.customers.insert_one({"customer_id": "c2", "city": "Mumbai", "tags": [], "created_at": now, "updated_at": now})
    mark_changed()  # what after_write does in a process that has no copy open
    assert count(MUMBAI) == 2
    assert open_copy() is copy


def test_a_copy_polls_mongodb_for_writers_that_share_no_data_dir(db, monkeypatch):
    monkeypatch.setenv("CRM_ANALYTICS_POLL_SECONDS", "0")
    write(db, "customers", [{"customer_id": "c1", "city": "Mumbai"}])
    assert count(MUMBAI) == 1
    now = datetime.now(UTC)
    db.customers.insert_one({"customer_id": "c2", "city": "Mumbai", "tags": [], "created_at": now, "updated_at": now})
    assert count(MUMBAI) == 2


def test_a_new_process_loads_the_snapshot_and_catches_up(db, cli, tmp_path):
    write(db, "customers", [{"customer_id": f"c{i}", "city": "Mumbai"} for i in range(5)])
    copy = open_copy()
    copy.save_snapshot()
    analytic_copy.close_all()
    write(db, "customers", [{"customer_id": "c9", "city": "Mumbai"}])  # after the snapshot
    loaded = open_copy()
    assert "snapshot_load_seconds" in loaded.stats and "rebuild_seconds" not in loaded.stats
    assert count(MUMBAI) == 6
    rules = tmp_path / "rules.json"
    rules.write_text('{"op": "and", "rules": [{"field": "city", "operator": "=", "value": "Mumbai"}]}')
    assert cli("segment", "count", str(rules), check=True).stdout.splitlines()[-1] == "6"


def test_a_damaged_snapshot_is_rebuilt_from_mongodb(db):
    write(db, "customers", [{"customer_id": "c1", "city": "Mumbai"}])
    copy = open_copy()
    analytic_copy.close_all()
    copy.snapshot_path.write_bytes(b"not a database")
    assert count(MUMBAI) == 1
    assert "rebuild_seconds" in open_copy().stats


def test_rebuild_replaces_the_copy_from_mongodb(db):
    write(db, "customers", [{"customer_id": "c1", "city": "Mumbai"}])
    assert count(MUMBAI) == 1
    db.customers.delete_many({})  # deletes bypass the watermark; a rebuild follows MongoDB
    analytics.rebuild()
    assert count(MUMBAI) == 0


def test_after_write_rejects_an_unknown_kind(crm_env):
    with pytest.raises(ValueError, match="customers"):
        analytics.after_write("products")
