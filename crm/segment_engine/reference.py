"""A plain-Python evaluator of segment rules, written from the contract's semantics.

It shares nothing with the SQL compiler but the parsed rule, so tests can check that the two
agree. Customers and orders are dicts shaped like the `customers` / `orders` tables (amount in
paise, datetimes with or without an offset; without one they are UTC).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any, cast

from crm.segment_engine.attributes import PREFIX
from crm.segment_engine.catalogue import Catalogue
from crm.segment_engine.model import Condition, Group, parse_rule, typed_value


def evaluate(
    group: Group | dict[str, Any],
    customers: list[dict[str, Any]],
    orders: list[dict[str, Any]],
    as_of: date,
    fields: Catalogue | None = None,
) -> set[str]:
    """The ids of the customers the rule selects on day `as_of`; custom attributes are read from
    each customer's `attributes` dict."""
    rule = parse_rule(group, fields)
    completed: dict[str, list[tuple[date, int]]] = defaultdict(list)
    for order in orders:
        if order["status"] == "completed":
            day = cast(date, _utc_day(order["order_date"]))  # every stored order has its date
            completed[order["customer_id"]].append((day, order["amount"]))
    return {c["customer_id"] for c in customers if _matches(rule, _Customer(c, completed[c["customer_id"]], as_of))}


def customer_facts(customer: dict[str, Any], orders: list[dict[str, Any]], as_of: date) -> _Customer:
    """One customer with their orders (any status; only completed ones count), as evaluated."""
    completed = [
        (cast(date, _utc_day(order["order_date"])), order["amount"])
        for order in orders
        if order.get("status") == "completed"
    ]
    return _Customer(customer, completed, as_of)


def holds(cond: Condition, customer: _Customer) -> bool:
    """Whether one condition holds for the customer."""
    return _condition(cond, customer)


def _utc_day(moment: datetime | None) -> date | None:
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date()


def _text(value: str | None) -> str | None:
    """Strings compare trimmed and case-insensitively; empty is missing."""
    return (value.strip().lower() or None) if value is not None else None


class _Customer:
    def __init__(self, record: dict[str, Any], orders: list[tuple[date, int]], as_of: date):
        self.record, self.orders, self.as_of = record, orders, as_of

    def value(self, cond: Condition) -> Any:
        """The field's value, None when missing; money in paise (avg as an exact fraction)."""
        name = cond.field
        orders = self.orders
        if cond.within_days is not None:
            start = self.as_of - timedelta(days=cond.within_days)
            orders = [o for o in orders if start <= o[0] <= self.as_of]
        days = [d for d, _ in orders]
        if name == "total_spend":
            return sum(a for _, a in orders)
        if name == "order_count":
            return len(orders)
        if name == "avg_order_value":
            return Fraction(sum(a for _, a in orders), len(orders)) if orders else None
        if name == "first_order_date":
            return min(days, default=None)
        if name == "last_order_date":
            return max(days, default=None)
        if name == "days_since_last_order":
            return (self.as_of - max(days)).days if days else None
        if name.startswith(PREFIX):
            stored = self.record.get("attributes")
            return _attribute(cond.spec.type, stored.get(name[len(PREFIX) :]) if isinstance(stored, dict) else None)
        raw = self.record.get(name)
        if name == "tags":
            return {t for t in (_text(x) for x in raw or [] if x is not None) if t}
        if name == "signup_date":
            return _utc_day(raw)
        if name == "age":
            return raw
        return _text(raw)


def _matches(rule: Group | Condition, customer: _Customer) -> bool:
    if isinstance(rule, Group):
        results = (_matches(r, customer) for r in rule.rules)
        result = all(results) if rule.op == "and" else any(results)
        return not result if rule.negate else result
    return _condition(rule, customer)


def _condition(cond: Condition, customer: _Customer) -> bool:
    x = customer.value(cond)
    op = cond.operator
    v = typed_value(cond)
    if cond.spec.type == "list":
        return _tags(op, x, v)
    if op == "is_empty":
        return x is None
    if op == "is_not_empty":
        return x is not None
    if x is None:  # any comparison with a missing value is false
        return False
    if isinstance(v, str):
        v = _text(v)
    elif isinstance(v, tuple) and v and isinstance(v[0], str):
        v = tuple(_text(s) for s in v)
    today = customer.as_of
    checks: dict[str, Callable[[], bool]] = {
        "=": lambda: x == v,
        "!=": lambda: x != v,
        ">": lambda: x > v,
        ">=": lambda: x >= v,
        "<": lambda: x < v,
        "<=": lambda: x <= v,
        "between": lambda: v[0] <= x <= v[1],
        "in": lambda: x in v,
        "not_in": lambda: x not in v,
        "contains": lambda: v in x,
        "not_contains": lambda: v not in x,
        "starts_with": lambda: x.startswith(v),
        "before": lambda: x < v,
        "after": lambda: x > v,
        "on": lambda: x == v,
        "in_last_days": lambda: today - timedelta(days=v) <= x <= today,
        "not_in_last_days": lambda: x < today - timedelta(days=v),
    }
    return checks[op]()


def _attribute(kind: str, raw: Any) -> Any:
    """A custom attribute's value as compared; a list is a set of labels like tags. A value of
    another type than its kind reads as missing, as the analytic copy reads it."""
    if kind == "list":
        items = raw if isinstance(raw, list) else []
        return {t for t in (_text(x) for x in items if isinstance(x, str)) if t}
    if kind == "string":
        return _text(raw) if isinstance(raw, str) else None
    if kind == "date":
        return _utc_day(raw) if isinstance(raw, datetime) else None
    if kind == "decimal":
        return float(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else None
    return raw if isinstance(raw, bool) else None


def _tags(op: str, tags: set[str], v: Any) -> bool:
    """Tags are a set of trimmed, lower-cased labels, never missing."""
    if op == "is_empty":
        return not tags
    if op == "is_not_empty":
        return bool(tags)
    if op in ("contains", "not_contains"):
        return (_text(v) in tags) == (op == "contains")
    wanted = {_text(s) for s in v}
    return bool(wanted & tags) if op == "contains_any" else wanted <= tags
