"""Incremental refresh of the DuckDB copy (no MongoDB): after any mix of new orders, changed
orders, moved orders and changed customers, the features and the completed orders that
`within_days` windows aggregate equal a rebuild from the same rows."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pyarrow as pa
import pytest

from crm.analytics.analytic_copy import new_connection
from crm.analytics.mongo_read import CUSTOMER_SCHEMA, ORDER_SCHEMA
from crm.analytics.upsert import apply_changes, load_all
from crm.segment_engine import build_features
from crm.segment_engine.catalogue import FIELDS
from crm.segment_engine.features import SURROGATE_COLUMNS

START = datetime(2025, 1, 1)
STATUSES = ["completed", "completed", "cancelled", "refunded"]


def customers(ids: list[str], stamp: datetime) -> pa.Table:
    rows = [
        {"customer_id": cid, "city": f"City {cid}", "tags": [], "created_at": stamp, "updated_at": stamp} for cid in ids
    ]
    return pa.Table.from_pylist(rows, schema=CUSTOMER_SCHEMA.to_arrow())


def orders(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=ORDER_SCHEMA.to_arrow())


def features(con) -> dict[str, list]:
    """Every customer's feature row and completed orders (day, amount), by customer id: the
    integer keys and codes differ between a refreshed copy and a rebuild, what they point to
    must not."""
    surrogates = ", ".join(SURROGATE_COLUMNS)
    rows = (
        con.sql(f"SELECT * EXCLUDE ({surrogates}) FROM customer_features ORDER BY customer_id")
        .to_arrow_table()
        .to_pylist()
    )
    window_rows = con.execute(
        "SELECT k.customer_id, o.day, o.amount FROM completed_orders AS o "
        "JOIN customer_keys AS k USING (customer_idx) ORDER BY ALL"
    ).fetchall()
    unkeyed = con.execute(
        "SELECT count(*) FROM customer_features AS f WHERE NOT EXISTS (SELECT 1 "
        "FROM customer_keys AS k WHERE k.customer_id = f.customer_id "
        "AND k.customer_idx = f.customer_idx)"
    ).fetchall()[0][0]
    decoded = {
        f.name: con.execute(
            f"SELECT f.{f.column}, t.key FROM customer_features AS f LEFT JOIN "
            f"text_codes AS t ON t.code = f.{f.code_column} ORDER BY f.customer_id"
        ).fetchall()
        for f in FIELDS.values()
        if f.coded
    }
    miscoded = {name: [pair for pair in pairs if pair[0] != pair[1]] for name, pairs in decoded.items()}
    return {
        "features": rows,
        "completed_orders": window_rows,
        "rows_without_their_key": unkeyed,
        "codes_not_matching_keys": miscoded,
    }


def rebuilt_features(con) -> list[dict]:
    fresh = new_connection()
    load_all(
        fresh,
        con.sql(
            "SELECT customer_id, name, email, phone, city, gender, age::BIGINT AS age, "
            "signup_date, tags, {'email': {'status': consent_email}, 'sms': {'status': consent_sms}, "
            "'whatsapp': {'status': consent_whatsapp}} AS consent, created_at, updated_at "
            "FROM customers"
        ).to_arrow_table(),
        con.sql("SELECT * FROM orders").to_arrow_table(),
    )
    return features(fresh)


@pytest.mark.parametrize("seed", range(8))
def test_refreshed_features_equal_a_rebuild_after_any_mix_of_changes(seed):
    rng = random.Random(seed)
    ids = [f"c{i}" for i in range(12)]
    con = new_connection()
    load_all(con, customers(ids[:8], START), orders([]))
    known: dict[str, dict] = {}
    for step in range(1, 8):
        stamp = START + timedelta(days=step)
        batch = []
        for n in range(rng.randint(0, 6)):  # new orders, some for customers not there (yet)
            batch.append(
                {
                    "order_id": f"o{step}-{n}",
                    "customer_id": rng.choice(ids + ["ghost"]),
                    "amount": rng.randint(0, 10_000),
                    "status": rng.choice(STATUSES),
                    "order_date": START + timedelta(days=rng.randint(-30, 60), hours=rng.randint(0, 23)),
                    "created_at": stamp,
                    "updated_at": stamp,
                }
            )
        for old in rng.sample(sorted(known), min(len(known), rng.randint(0, 2))):  # changed orders
            changed = dict(
                known[old],
                updated_at=stamp,
                status=rng.choice(STATUSES),
                customer_id=rng.choice(ids),
                amount=rng.randint(0, 10_000),
            )
            batch.append(changed)
        new_customers = rng.sample(ids, rng.randint(0, 2))
        applied = apply_changes(con, customers(new_customers, stamp), orders(batch))
        assert applied == len(batch) + len(new_customers)
        known.update({row["order_id"]: row for row in batch})
        assert features(con) == rebuilt_features(con), f"step {step}"


def test_a_new_order_earlier_than_the_first_moves_the_first_order_date():
    con = new_connection()
    load_all(
        con,
        customers(["a"], START),
        orders(
            [
                {
                    "order_id": "o1",
                    "customer_id": "a",
                    "amount": 500,
                    "status": "completed",
                    "order_date": START,
                    "created_at": START,
                    "updated_at": START,
                }
            ]
        ),
    )
    stamp = START + timedelta(days=1)
    apply_changes(
        con,
        customers([], stamp),
        orders(
            [
                {
                    "order_id": "o2",
                    "customer_id": "a",
                    "amount": 700,
                    "status": "completed",
                    "order_date": START - timedelta(days=3),
                    "created_at": stamp,
                    "updated_at": stamp,
                }
            ]
        ),
    )
    row = con.execute(
        "SELECT total_spend_paise, order_count, first_order_day, last_order_day FROM customer_features"
    ).fetchall()[0]
    assert row == (1200, 2, (START - timedelta(days=3)).date(), START.date())


def test_build_features_runs_inside_the_callers_transaction():
    con = new_connection()
    load_all(con, customers(["a"], START), orders([]))
    con.begin()
    con.execute("INSERT INTO orders VALUES ('o1', 'a', 100, 'completed', ?, ?, ?)", [START] * 3)
    build_features(con, ["a"])
    con.rollback()
    assert con.execute("SELECT order_count FROM customer_features").fetchall() == [(0,)]
