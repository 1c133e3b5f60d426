"""Searching and paging customers and orders; one customer's totals; the dashboard numbers."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from crm import analytics
from crm.analytics.browse import customer_view, search
from crm.analytics.dashboard import load_dashboard
from crm.errors import InvalidInput, NotFound
from crm.ingest.records import validate_records
from crm.ingest.writer import write_records
from crm.ui.browse_panel import readable


def add(db, kind, rows):
    result = validate_records(kind, rows)
    assert not result.errors, result.errors
    write_records(db, kind, result.valid)


@pytest.fixture
def shop(db):
    add(
        db,
        "customers",
        [
            {
                "customer_id": "C1",
                "name": "Asha Rao",
                "email": "asha@example.com",
                "city": "Pune",
                "signup_date": "2025-01-01",
            },
            {
                "customer_id": "C2",
                "name": "Vikram (Vicky) Shah",
                "email": "v.shah@example.in",
                "city": "Mumbai",
                "signup_date": "2025-02-01",
            },
            {"customer_id": "C3", "name": "Meera", "city": "", "signup_date": "2025-03-01"},
        ],
    )
    add(
        db,
        "orders",
        [
            {"order_id": "O1", "customer_id": "C1", "amount": "1299.50", "order_date": "2025-03-05"},
            {"order_id": "O2", "customer_id": "C1", "amount": "500", "status": "refunded", "order_date": "2025-03-06"},
            {"order_id": "O3", "customer_id": "C1", "amount": "200", "status": "cancelled", "order_date": "2025-04-01"},
            {"order_id": "O4", "customer_id": "C2", "amount": "99.99", "order_date": "2025-04-02"},
        ],
    )
    return db


@pytest.mark.parametrize(
    "text, found",
    [
        ("", ["C3", "C2", "C1"]),  # newest signup first
        ("ASHA", ["C1"]),  # case-insensitive, on name and email
        ("mumbai", ["C2"]),  # on city
        ("c3", ["C3"]),  # on id
        ("(vicky)", ["C2"]),  # regex characters are literal
        (".*", []),
        ("example", ["C2", "C1"]),
    ],
)
def test_customer_search(shop, text, found):
    page = search(shop, "customers", text, page=1, page_size=10)
    assert [row["customer_id"] for row in page.rows] == found
    assert page.total == len(found)


def test_orders_page_newest_first_and_pages_count(shop):
    first = search(shop, "orders", "", page=1, page_size=10)
    assert [row["order_id"] for row in first.rows] == ["O4", "O3", "O2", "O1"]
    assert first.pages == 1
    assert search(shop, "orders", "refunded").total == 1
    assert search(shop, "orders", "", page=2, page_size=10).rows == []


def test_missing_values_of_a_searched_customer_read_as_blanks(shop):
    add(shop, "customers", [{"customer_id": "C4", "age": "41", "signup_date": "2025-04-01"}])
    shop.customers.insert_one({"customer_id": "C5"})  # written by hand: no field but the id
    frame = readable(pd.DataFrame(search(shop, "customers", "").rows)).set_index("customer_id")
    assert frame.loc["C3", ["email", "phone", "gender", "tags"]].tolist() == ["", "", "", ""]
    assert frame.loc["C5", ["name", "email", "city", "signup_date", "tags"]].tolist() == ["", "", "", "", ""]
    assert not frame.drop(columns="age").isna().any().any()  # no text cell left to show "None" or "nan"
    assert frame.loc["C4", "age"] == 41 and str(frame["age"].dtype) == "Int64"  # 41, not 41.0


@pytest.mark.parametrize(
    "kwargs, where",
    [
        ({"page": 0}, "page"),
        ({"page_size": 7}, "page_size"),
        ({"text": "x" * 201}, "search"),
    ],
)
def test_bad_paging_is_an_invalid_input_naming_the_field(shop, kwargs, where):
    with pytest.raises(InvalidInput) as error:
        search(shop, "customers", **kwargs)
    assert error.value.location == where


def test_customer_view_totals_count_completed_orders_only(shop):
    view = customer_view(shop, "C1")
    assert [order["order_id"] for order in view.orders] == ["O3", "O2", "O1"]
    assert (view.completed_orders, view.total_spend_paise, view.refunded_paise, view.cancelled_orders) == (
        1,
        129_950,
        50_000,
        1,
    )
    with pytest.raises(NotFound):
        customer_view(shop, "nobody")


def test_dashboard_numbers_from_the_analytic_copy(shop):
    board = load_dashboard(analytics.open_copy().cursor(), today=date(2025, 4, 20))
    kpis = board.kpis
    assert (kpis.customers, kpis.orders, kpis.revenue_paise, kpis.active_customers) == (3, 4, 129_950 + 9_999, 1)
    assert kpis.orders_by_status == {"cancelled": 1, "completed": 2, "refunded": 1}
    months = board.revenue_by_month
    assert [m.to_pydatetime() for m in months["month"]] == [
        datetime(2025, 3, 1, tzinfo=UTC),
        datetime(2025, 4, 1, tzinfo=UTC),
    ]
    assert list(months["revenue_paise"]) == [129_950, 9_999]
    assert list(months["partial"]) == [False, True]  # April runs to the 20th: the month so far
    assert not load_dashboard(analytics.open_copy().cursor(), today=date(2025, 5, 2)).revenue_by_month["partial"].any()
    assert set(map(tuple, board.customers_by_city.values.tolist())) == {("Pune", 1), ("Mumbai", 1), ("(no city)", 1)}
