"""The home dashboard's numbers: plain functions, no Streamlit.

They read the DuckDB analytic copy (milliseconds at 50k orders, where an aggregation on the
embedded MongoDB server takes about two seconds). Revenue counts completed orders only
(cancelled and refunded money never stayed with us), the same rule segments use for spend.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import duckdb
import pandas as pd

from crm.store.documents import Database

ACTIVE_DAYS = 30
TOP_CITIES = 15


@dataclass(frozen=True)
class Kpis:
    customers: int
    orders: int
    revenue_paise: int  # completed orders
    active_customers: int  # with a completed order in the last ACTIVE_DAYS days
    orders_by_status: dict[str, int]


@dataclass(frozen=True)
class Dashboard:
    kpis: Kpis
    revenue_by_month: pd.DataFrame  # month (first day, UTC), revenue_paise, orders, partial
    customers_by_city: pd.DataFrame  # city, customers (largest first; the rest as "Other")
    today: date | None = None  # the day the figures run to (the current month is partial)


def is_empty(db: Database) -> bool:
    return db.customers.estimated_document_count() == 0 and db.orders.estimated_document_count() == 0


def load_dashboard(con: duckdb.DuckDBPyConnection, today: date | None = None) -> Dashboard:
    """The numbers from the analytic copy (`crm.analytics.open_copy().cursor()`)."""
    today = today or datetime.now(UTC).date()
    active_since = datetime.combine(today - timedelta(days=ACTIVE_DAYS), time(), UTC)
    totals = con.execute(
        "SELECT (SELECT count(*) FROM customers), "
        # HUGEINT: totals of int64 paise can pass the int64 limit (fetched as Python ints).
        "       coalesce(sum(amount) FILTER (WHERE status = 'completed'), 0)::HUGEINT, "
        "       count(DISTINCT customer_id) FILTER (WHERE status = 'completed' AND order_date >= ?) "
        "FROM orders",
        [active_since],
    ).fetchone()
    assert totals is not None  # an aggregate without GROUP BY always answers one row
    customers, revenue, active = totals
    by_status = dict(con.execute("SELECT status, count(*) FROM orders GROUP BY status ORDER BY status").fetchall())
    kpis = Kpis(
        customers=customers,
        orders=sum(by_status.values()),
        revenue_paise=revenue,
        active_customers=active,
        orders_by_status=by_status,
    )
    months = pd.DataFrame(
        con.execute(
            # The copy's session zone is UTC: the plain TIMESTAMP is the UTC month start.
            "SELECT date_trunc('month', order_date)::TIMESTAMP AS month, sum(amount)::HUGEINT AS revenue_paise, "
            "       count(*) AS orders "
            "FROM orders WHERE status = 'completed' GROUP BY ALL ORDER BY month"
        ).fetchall(),
        columns=["month", "revenue_paise", "orders"],
    )
    months["month"] = pd.to_datetime(months["month"], utc=True)
    # The current month has only the days so far: drawn like the others it reads as a collapse.
    months["partial"] = months["month"].dt.date == today.replace(day=1)
    return Dashboard(kpis=kpis, revenue_by_month=months, customers_by_city=customers_by_city(con), today=today)


def customers_by_city(con: duckdb.DuckDBPyConnection, top: int = TOP_CITIES) -> pd.DataFrame:
    rows = con.execute(
        "SELECT coalesce(nullif(trim(city), ''), '(no city)') AS city, count(*) AS customers "
        "FROM customers GROUP BY ALL ORDER BY customers DESC, city"
    ).fetchall()
    named = [{"city": city, "customers": n} for city, n in rows]
    head, rest = named[:top], named[top:]
    if rest:
        head.append({"city": "Other", "customers": sum(row["customers"] for row in rest)})
    return pd.DataFrame(head, columns=["city", "customers"])
