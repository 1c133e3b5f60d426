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
from crm.analytics.export import export_csv
from crm.analytics.segment_preview import count, preview
from crm.auth import CLI
from crm.dashboard import load_dashboard

WHEN = datetime(2025, 3, 1, tzinfo=UTC)
AS_OF = date(2025, 3, 10)
INT64_MAX = 2**63 - 1
EVERYONE = {"op": "and", "rules": [{"field": "customer_id", "operator": "is_not_empty"}]}
BIG_SPENDERS = {"op": "and", "rules": [{"field": "total_spend", "operator": ">", "value": 10**13}]}
RECENT_BIG = {"op": "and", "rules": [{"field": "total_spend", "operator": ">", "value": 10**13, "within_days": 30}]}
HIGH_AVERAGE = {"op": "and", "rules": [{"field": "avg_order_value", "operator": ">", "value": 10**13}]}


@pytest.fixture(autouse=True)
def fresh_copies():
    analytic_copy.close_all()
    yield
    analytic_copy.close_all()


def customer(customer_id: str, **fields) -> dict:
    return {"customer_id": customer_id, "city": "Pune", "created_at": WHEN, "updated_at": WHEN, **fields}


def order(order_id: str, customer_id: str = "C1", **fields) -> dict:
    return {"order_id": order_id, "customer_id": customer_id, "amount": Int64(100_00), "status": "completed",
            "order_date": WHEN, "created_at": WHEN, "updated_at": WHEN, **fields}


def exported(tmp_path, rule=EVERYONE) -> list[dict]:
    path = tmp_path / "out.csv"
    export_csv(rule, path, as_of=AS_OF, by=CLI)
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_orders_whose_total_passes_int64_still_count_export_and_chart(db, tmp_path):
    # Two orders just under the int64 limit each (written before the per-order ceiling existed).
    db.customers.insert_many([customer("C1"), customer("C2")])
    db.orders.insert_many([order("O1", amount=Int64(INT64_MAX - 7)), order("O2", amount=Int64(INT64_MAX - 7)),
                           order("O3", "C2")])
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
