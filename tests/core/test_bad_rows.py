"""Rows written to MongoDB by hand or before today's checks can't break the analytics: totals
past int64 add up exactly, and a row the copy cannot load is skipped and reported."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime

import pytest
from bson.decimal128 import Decimal128
from bson.int64 import Int64

from crm.analytics import analytic_copy
from crm.analytics.analytic_copy import open_copy, rebuild_copy
from crm.analytics.dashboard import load_dashboard
from crm.analytics.export import export_csv
from crm.analytics.segment_preview import count, preview
from crm.auth import CLI
from crm.store import get_db

WHEN = datetime(2025, 3, 1, tzinfo=UTC)
AS_OF = date(2025, 3, 10)
INT64_MAX = 2**63 - 1
EVERYONE = {"op": "and", "rules": [{"field": "customer_id", "operator": "is_not_empty"}]}
BIG_SPENDERS = {"op": "and", "rules": [{"field": "total_spend", "operator": ">", "value": 10**13}]}
RECENT_BIG = {"op": "and", "rules": [{"field": "total_spend", "operator": ">", "value": 10**13, "within_days": 30}]}
HIGH_AVERAGE = {"op": "and", "rules": [{"field": "avg_order_value", "operator": ">", "value": 10**13}]}


pytestmark = pytest.mark.usefixtures("fresh_copies")  # each test opens its own analytic copy


def customer(customer_id: str, **fields) -> dict:
    return {"customer_id": customer_id, "city": "Pune", "created_at": WHEN, "updated_at": WHEN, **fields}


def order(order_id: str, customer_id: str = "C1", **fields) -> dict:
    return {
        "order_id": order_id,
        "customer_id": customer_id,
        "amount": Int64(100_00),
        "status": "completed",
        "order_date": WHEN,
        "created_at": WHEN,
        "updated_at": WHEN,
        **fields,
    }


def exported(tmp_path, rule=EVERYONE) -> list[dict]:
    path = tmp_path / "out.csv"
    export_csv(rule, path, as_of=AS_OF, by=CLI, db=get_db())
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_orders_whose_total_passes_int64_still_count_export_and_chart(db, tmp_path):
    # Two orders just under the int64 limit each (written before the per-order ceiling existed).
    db.customers.insert_many([customer("C1"), customer("C2")])
    db.orders.insert_many(
        [order("O1", amount=Int64(INT64_MAX - 7)), order("O2", amount=Int64(INT64_MAX - 7)), order("O3", "C2")]
    )
    exact = 2 * (INT64_MAX - 7)
    assert count(BIG_SPENDERS, as_of=AS_OF) == 1
    assert count(RECENT_BIG, as_of=AS_OF) == 1
    assert count(HIGH_AVERAGE, as_of=AS_OF) == 1
    assert preview(BIG_SPENDERS, as_of=AS_OF).count == 1
    rows = {row["customer_id"]: row for row in exported(tmp_path)}
    assert rows["C1"]["total_spend"] == f"{exact // 100}.{exact % 100:02d}"
    assert rows["C2"]["total_spend"] == "100.00"
    board = load_dashboard(open_copy().cursor(), today=AS_OF)
    assert board.kpis.revenue_paise == exact + 100_00
    assert int(board.revenue_by_month["revenue_paise"].iloc[0]) == exact + 100_00


def test_a_new_order_added_to_a_total_near_int64_adds_up_exactly(db):
    db.customers.insert_one(customer("C1"))
    db.orders.insert_one(order("O1", amount=Int64(INT64_MAX - 7)))
    assert count(BIG_SPENDERS, as_of=AS_OF) == 1
    later = datetime.now(UTC)
    db.orders.insert_one(order("O2", amount=Int64(INT64_MAX - 7), created_at=later, updated_at=later))
    copy = open_copy()
    copy.refresh()
    total = copy.cursor().execute("SELECT total_spend_paise FROM customer_features").fetchall()[0][0]
    assert total == 2 * (INT64_MAX - 7)


BAD_ORDERS = {
    "O-text": {"amount": "12"},  # an amount as text
    "O-float": {"amount": 1e20},  # a float past int64 (pymongoarrow would read int64's minimum)
    "O-decimal": {"amount": Decimal128("99999999999999999999999")},
    "O-date": {"order_date": "2025-13-45"},  # a date as text, by hand
    "O-no-amount": {"amount": None},
}


def bad_data(db) -> None:
    db.customers.insert_many(
        [
            customer("C1"),
            customer("C2"),
            customer("C-age", age=Int64(2**40)),
            customer(7),
            customer("C-tags", tags=[1, "vip"]),
        ]
    )
    db.orders.insert_many(
        [
            order("O1"),
            order("O2", "C2", amount=Int64(250_00)),
            *(order(order_id, **fields) for order_id, fields in BAD_ORDERS.items()),
            order(12345, "C2"),
        ]
    )


def test_rows_the_copy_cannot_load_are_skipped_and_reported(db, tmp_path, caplog):
    bad_data(db)
    copy = rebuild_copy()  # never raises on them
    assert count(EVERYONE, as_of=AS_OF) == 3  # C1, C2 and C-tags (whose bad tag list reads as no tags)
    assert count(BIG_SPENDERS, as_of=AS_OF) == 0
    assert {row["customer_id"]: row["total_spend"] for row in exported(tmp_path)} == {
        "C1": "100.00",
        "C2": "250.00",
        "C-tags": "0.00",
    }
    board = load_dashboard(copy.cursor(), today=AS_OF)
    assert (board.kpis.customers, board.kpis.orders, board.kpis.revenue_paise) == (3, 2, 350_00)

    left_out = copy.skipped_summary()
    assert left_out.counts == {"customers": 2, "orders": 6}
    reasons = dict(copy.cursor().execute("SELECT row_id, reason FROM analytics_skipped").fetchall())
    assert reasons["O-text"] == "amount should be a whole number, not text '12'"
    assert reasons["O-float"] == "amount should be a whole number, not a decimal number (1e+20)"
    assert reasons["O-date"] == "order_date should be a date, not text '2025-13-45'"
    assert reasons["O-no-amount"] == "amount is missing"
    assert reasons["C-age"] == "age is out of range (1,099,511,627,776)"
    assert [r for i, r in reasons.items() if i.startswith("_id ")] == [
        "customer_id should be text, not the number 7",
        "order_id should be text, not the number 12345",
    ]
    assert "left out 8 document(s) it cannot load" in caplog.text


def test_the_status_names_the_documents_left_out(db):
    from crm.config import load_settings
    from crm.ops.status import analytic_copy_status

    bad_data(db)
    status = analytic_copy_status(load_settings())
    assert status.ok is False
    assert "left out 2 customers and 6 orders that cannot be loaded" in status.summary
    assert "3 more" in status.summary  # five named, the rest counted
    assert "Write them again with the API or an import" in status.summary


def test_a_fixed_document_is_loaded_by_the_next_refresh_and_no_longer_reported(db):
    bad_data(db)
    copy = open_copy()
    assert copy.skipped_summary().counts["orders"] == 6
    later = datetime.now(UTC)
    db.orders.update_one({"order_id": "O-text"}, {"$set": {"amount": Int64(12_00), "updated_at": later}})
    db.orders.update_one({"order_id": "O1"}, {"$set": {"amount": "oops", "updated_at": later}})
    copy.refresh()
    reasons = dict(copy.cursor().execute("SELECT row_id, reason FROM analytics_skipped").fetchall())
    assert "O-text" not in reasons and reasons["O1"] == "amount should be a whole number, not text 'oops'"
    assert copy.skipped_summary().counts["orders"] == 6
    assert count(EVERYONE, as_of=AS_OF) == 3
    spend = dict(copy.cursor().execute("SELECT customer_id, total_spend_paise FROM customer_features").fetchall())
    assert spend == {"C1": 12_00, "C2": 250_00, "C-tags": 0}


def test_a_customer_that_turns_unloadable_leaves_the_copy_until_fixed(db):
    bad_data(db)
    copy = open_copy()
    later = datetime.now(UTC)
    db.customers.update_one({"customer_id": "C2"}, {"$set": {"age": Int64(-(2**40)), "updated_at": later}})
    copy.refresh()
    assert count(EVERYONE, as_of=AS_OF) == 2  # C1 and C-tags
    assert copy.skipped_summary().counts == {"customers": 3, "orders": 6}
    db.customers.update_one({"customer_id": "C2"}, {"$set": {"age": 41, "updated_at": datetime.now(UTC)}})
    copy.refresh()
    assert count(EVERYONE, as_of=AS_OF) == 3
    spend = dict(copy.cursor().execute("SELECT customer_id, total_spend_paise FROM customer_features").fetchall())
    assert spend["C2"] == 250_00


def test_the_list_of_documents_left_out_survives_the_snapshot(db):
    bad_data(db)
    before = rebuild_copy().skipped_summary()
    analytic_copy.close_all()
    copy = open_copy()  # loads the snapshot the rebuild wrote
    assert copy.stats.get("snapshot_load_seconds") is not None
    assert copy.skipped_summary() == before
