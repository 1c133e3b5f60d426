"""The home dashboard's numbers: plain functions over the database, no Streamlit.

Revenue counts completed orders only (cancelled and refunded money never stayed with us), the
same rule the segment engine uses for spend. All orders are read in one aggregation pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

import pandas as pd
from pymongo.database import Database

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
    revenue_by_month: pd.DataFrame  # month (first day, UTC), revenue_paise, orders
    customers_by_city: pd.DataFrame  # city, customers (largest first; the rest as "Other")


def is_empty(db: Database) -> bool:
    return db.customers.estimated_document_count() == 0 and db.orders.estimated_document_count() == 0


def load_dashboard(db: Database, today: date | None = None) -> Dashboard:
    today = today or datetime.now(timezone.utc).date()
    active_since = datetime.combine(today - timedelta(days=ACTIVE_DAYS), time(), timezone.utc)
    facets = next(db.orders.aggregate([{"$facet": {
        "status": [{"$group": {"_id": "$status", "orders": {"$sum": 1}, "paise": {"$sum": "$amount"}}}],
        "month": [
            {"$match": {"status": "completed"}},
            {"$group": {"_id": {"$dateTrunc": {"date": "$order_date", "unit": "month"}},
                        "revenue_paise": {"$sum": "$amount"}, "orders": {"$sum": 1}}},
            {"$sort": {"_id": 1}},
        ],
        "active": [
            {"$match": {"status": "completed", "order_date": {"$gte": active_since}}},
            {"$group": {"_id": "$customer_id"}},
            {"$count": "customers"},
        ],
    }}]), {"status": [], "month": [], "active": []})

    by_status = {row["_id"]: row["orders"] for row in facets["status"]}
    revenue = sum(row["paise"] for row in facets["status"] if row["_id"] == "completed")
    active = facets["active"][0]["customers"] if facets["active"] else 0
    kpis = Kpis(customers=db.customers.count_documents({}), orders=sum(by_status.values()),
                revenue_paise=int(revenue), active_customers=active, orders_by_status=by_status)

    months = pd.DataFrame(
        [{"month": row["_id"], "revenue_paise": int(row["revenue_paise"]), "orders": row["orders"]}
         for row in facets["month"] if row["_id"] is not None],
        columns=["month", "revenue_paise", "orders"])
    return Dashboard(kpis=kpis, revenue_by_month=months, customers_by_city=customers_by_city(db))


def customers_by_city(db: Database, top: int = TOP_CITIES) -> pd.DataFrame:
    rows = list(db.customers.aggregate([
        {"$group": {"_id": "$city", "customers": {"$sum": 1}}},
        {"$sort": {"customers": -1, "_id": 1}},
    ]))
    named = [{"city": row["_id"] or "(no city)", "customers": row["customers"]} for row in rows]
    head, rest = named[:top], named[top:]
    if rest:
        head.append({"city": "Other", "customers": sum(row["customers"] for row in rest)})
    return pd.DataFrame(head, columns=["city", "customers"])
