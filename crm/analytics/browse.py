"""Searching and paging through customers and orders, and one customer's history.

Search text is matched literally (regex-escaped), case-insensitively, anywhere in the listed
fields; it is never interpreted as a query.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from crm.errors import InvalidInput, NotFound
from crm.store.documents import Database

PAGE_SIZES = (10, 25, 50, 100)
MAX_SEARCH_CHARS = 200

SEARCH_FIELDS = {
    "customers": ("customer_id", "name", "email", "city"),
    "orders": ("order_id", "customer_id", "status"),
}
# Newest first; the id breaks ties so paging is stable.
SORT = {
    "customers": [("signup_date", -1), ("customer_id", 1)],
    "orders": [("order_date", -1), ("order_id", 1)],
}
COLUMNS = {
    "customers": ["customer_id", "name", "email", "phone", "city", "gender", "age", "signup_date", "tags"],
    "orders": ["order_id", "customer_id", "amount", "status", "order_date"],
}


@dataclass(frozen=True)
class Page:
    rows: list[dict]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))


@dataclass(frozen=True)
class CustomerView:
    customer: dict
    orders: list[dict]  # newest first
    completed_orders: int
    total_spend_paise: int  # completed orders only
    refunded_paise: int
    cancelled_orders: int


def search_filter(kind: str, text: str) -> dict:
    text = (text or "").strip()
    if len(text) > MAX_SEARCH_CHARS:
        raise InvalidInput("search", f"search text is longer than {MAX_SEARCH_CHARS} characters")
    if not text:
        return {}
    pattern = {"$regex": re.escape(text), "$options": "i"}
    return {"$or": [{name: pattern} for name in SEARCH_FIELDS[kind]]}


def search(db: Database, kind: str, text: str = "", page: int = 1, page_size: int = 25) -> Page:
    """One page of customers or orders matching `text`, newest first."""
    if kind not in SEARCH_FIELDS:
        raise InvalidInput("kind", f"must be 'customers' or 'orders', not {kind!r}")
    if page_size not in PAGE_SIZES:
        raise InvalidInput("page_size", f"must be one of {', '.join(map(str, PAGE_SIZES))}")
    if page < 1:
        raise InvalidInput("page", "pages are numbered from 1")
    query = search_filter(kind, text)
    collection = db[kind]
    total = collection.count_documents(query) if query else collection.estimated_document_count()
    projection = {name: 1 for name in COLUMNS[kind]} | {"_id": 0}
    cursor = collection.find(query, projection).sort(SORT[kind]).skip((page - 1) * page_size).limit(page_size)
    return Page(rows=list(cursor), total=total, page=page, page_size=page_size)


def customer_view(db: Database, customer_id: str) -> CustomerView:
    customer = db.customers.find_one({"customer_id": customer_id}, {"_id": 0})
    if customer is None:
        raise NotFound(f"no customer with customer_id {customer_id!r}")
    orders = list(db.orders.find({"customer_id": customer_id}, {"_id": 0}).sort(SORT["orders"]))

    def paise(status: str) -> int:
        return sum(int(order["amount"]) for order in orders if order.get("status") == status)

    return CustomerView(
        customer=customer,
        orders=orders,
        completed_orders=sum(order.get("status") == "completed" for order in orders),
        total_spend_paise=paise("completed"),
        refunded_paise=paise("refunded"),
        cancelled_orders=sum(order.get("status") == "cancelled" for order in orders),
    )
