"""Segment preview on a hand-made dataset: counts, waterfall, histogram, cities, sample, cache."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from crm.analytics import preview
from crm.analytics.segment_preview import compute_preview, parse
from crm.ingest.records import validate_records
from crm.ingest.writer import write_records
from tests.support import loaded_duckdb

AS_OF = date(2025, 6, 30)
CUSTOMERS = [
    ("a", "Mumbai", ["vip"]),
    ("b", "Pune", []),
    ("c", "mumbai ", []),
    ("d", "Delhi", []),
    ("e", None, []),
    ("f", "Pune", []),
]
ORDERS = [  # (customer, rupees, status, day)
    ("a", 3000, "completed", "2025-06-20"),
    ("a", 4000, "completed", "2025-01-10"),
    ("b", 6000, "completed", "2025-06-25"),
    ("b", 9999, "cancelled", "2025-06-26"),
    ("c", 100, "completed", "2024-01-01"),
    ("c", 100, "completed", "2024-01-02"),
    ("c", 100, "completed", "2024-01-03"),
    ("e", 20000, "completed", "2025-06-29"),
    ("f", 1000, "completed", "2025-06-01"),
    ("f", 1500, "completed", "2025-06-15"),
]


@pytest.fixture(scope="module")
def con():
    return loaded_duckdb(
        [{"customer_id": cid, "city": city, "tags": tags} for cid, city, tags in CUSTOMERS],
        [
            {
                "order_id": f"o{i}",
                "customer_id": cid,
                "amount": rupees * 100,
                "status": status,
                "order_date": datetime.fromisoformat(day).replace(tzinfo=UTC),
            }
            for i, (cid, rupees, status, day) in enumerate(ORDERS)
        ],
    )


def run(con, rule, sample=50):
    return compute_preview(con, parse(rule), AS_OF, sample)


def steps(result):
    return [(s.alone, s.remaining) for s in result.waterfall]


def test_and_waterfall_counts_each_condition_alone_and_cumulatively(con):
    result = run(
        con,
        {
            "op": "and",
            "rules": [
                {"field": "total_spend", "operator": ">", "value": 5000},  # a b e
                {"field": "order_count", "operator": ">=", "value": 2},  # a c f
                {"field": "city", "operator": "in", "value": ["Mumbai", "Pune"]},
            ],
        },
    )  # a b c f
    assert steps(result) == [(3, 3), (3, 1), (4, 1)]
    assert (result.count, result.total_customers) == (1, 6)
    assert result.share == pytest.approx(1 / 6)
    assert result.top_cities == [("Mumbai", 1)]
    assert [b.customers for b in result.spend_histogram if b.customers] == [1]
    assert [b.low_rupees for b in result.spend_histogram if b.customers] == [5000]
    assert "spen" in result.waterfall[0].label.lower()


def test_or_waterfall_grows_and_uses_the_order_window(con):
    result = run(
        con,
        {
            "op": "or",
            "rules": [
                {"field": "city", "operator": "=", "value": "delhi"},  # d
                {"field": "total_spend", "operator": ">=", "value": 10000},  # e
                {"field": "order_count", "operator": ">=", "value": 2, "within_days": 30},
            ],
        },
    )  # f
    assert steps(result) == [(1, 1), (1, 2), (1, 3)]
    assert result.count == 3
    assert result.top_cities == [("Delhi", 1), ("Pune", 1)]
    bins = {b.low_rupees: b.customers for b in result.spend_histogram if b.customers}
    assert bins == {0: 1, 2500: 1, 10000: 1}
    assert result.spend_histogram[-1].high_rupees is None
    assert [row["customer_id"] for row in result.sample] == ["d", "e", "f"]


def test_negated_group_counts_the_customers_left_out(con):
    result = run(
        con, {"op": "and", "not": True, "rules": [{"field": "city", "operator": "in", "value": ["Mumbai", "Pune"]}]}
    )
    assert result.negated and steps(result) == [(4, 4)]
    assert result.count == 2
    assert sorted(row["customer_id"] for row in result.sample) == ["d", "e"]


def test_sample_rows_carry_features_in_rupees_and_days(con):
    result = run(con, {"op": "and", "rules": [{"field": "customer_id", "operator": "=", "value": "A"}]})
    (row,) = result.sample
    assert row["total_spend"] == Decimal("7000.00") and row["order_count"] == 2
    assert row["avg_order_value"] == Decimal("3500.00")
    assert row["days_since_last_order"] == 10
    assert row["tags"] == ["vip"] and row["city"] == "Mumbai"


def test_sample_is_limited_and_can_be_skipped(con):
    everyone = {"op": "and", "rules": [{"field": "order_count", "operator": ">=", "value": 0}]}
    assert len(run(con, everyone, sample=2).sample) == 2
    result = run(con, everyone, sample=0)
    assert result.sample == [] and result.count == 6


def test_waterfall_of_more_conditions_than_a_bit_pattern_holds(con):
    rules = [{"field": "order_count", "operator": ">=", "value": 0}] * 70
    rules.append({"field": "city", "operator": "=", "value": "Pune"})
    result = run(con, {"op": "and", "rules": rules})
    assert steps(result) == [(6, 6)] * 70 + [(2, 2)]
    assert result.count == 2


def test_preview_is_cached_until_the_data_changes(db, fresh_copies):
    def write(kind, rows):
        write_records(db, kind, validate_records(kind, rows).valid)

    rule = {"op": "and", "rules": [{"field": "city", "operator": "=", "value": "Pune"}]}
    write("customers", [{"customer_id": "p1", "city": "Pune"}])
    first = preview(rule, as_of=AS_OF)
    again = preview({"rules": rule["rules"], "op": "and"}, as_of=AS_OF)  # same rule, other key order
    assert again is first and first.count == 1
    write("customers", [{"customer_id": "p2", "city": "Pune"}])
    changed = preview(rule, as_of=AS_OF)
    assert changed is not first
    assert changed.count == 2 and changed.data_version != first.data_version
