"""A customer with a summary of their orders (what the GET route returns)."""

from __future__ import annotations

from typing import Any

from bson.decimal128 import Decimal128
from pymongo import DESCENDING

from crm.api.schemas import rupees
from crm.errors import NotFound
from crm.store.documents import Database


def customer_with_orders(db: Database, customer_id: str) -> dict:
    # consent_history is the customer page's; the API answers with the documented shape
    customer = db.customers.find_one({"customer_id": customer_id}, {"_id": 0, "consent_history": 0})
    if customer is None:
        raise NotFound(f"no customer with customer_id {customer_id!r}")
    totals = next(
        db.orders.aggregate(
            [
                {"$match": {"customer_id": customer_id}},
                {
                    "$group": {
                        "_id": None,
                        "count": {"$sum": 1},
                        "completed_count": {"$sum": {"$cond": [{"$eq": ["$status", "completed"]}, 1, 0]}},
                        # Decimal128: an int64 sum of orders written before the per-order ceiling can overflow.
                        "spend": {"$sum": {"$cond": [{"$eq": ["$status", "completed"]}, {"$toDecimal": "$amount"}, 0]}},
                    }
                },
            ]
        ),
        {"count": 0, "completed_count": 0, "spend": 0},
    )
    spend = _whole_paise(totals["spend"])
    last = db.orders.find_one(
        {"customer_id": customer_id}, {"_id": 0}, sort=[("order_date", DESCENDING), ("order_id", DESCENDING)]
    )
    return {
        "customer": customer,
        "orders": {
            "count": totals["count"],
            "completed_count": totals["completed_count"],
            "total_spend": rupees(spend),
            "total_spend_paise": spend,
            "currency": "INR",
            "last_order": None
            if last is None
            else {
                "order_id": last["order_id"],
                "amount": rupees(int(last["amount"])),
                "status": last["status"],
                "order_date": last["order_date"],
            },
        },
    }


def _whole_paise(total: Any) -> int:
    return int(total.to_decimal()) if isinstance(total, Decimal128) else int(total)
