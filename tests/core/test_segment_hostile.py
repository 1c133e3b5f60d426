"""Hostile rules: each gives an exact audience or InvalidInput naming the place, never a DuckDB
error, and the tables are intact afterwards."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from crm.errors import InvalidInput
from crm.segment_engine import compile_rule
from tests.support import loaded_duckdb, rule_audience

AS_OF = date(2024, 3, 1)
UTC = UTC
DROP = "'; DROP TABLE customers; --"

CUSTOMERS = [
    dict(customer_id="h1", name="Robert'); DROP TABLE customers;--", city=DROP, tags=["a'b", "--"], age=40),
    dict(customer_id="h2", name="a_b%c", city="Zoë😀", tags=["नमस्ते"], age=0),
    dict(customer_id="h3", name='say "hi"', city="\u202eevil", tags=[], age=None),
    dict(customer_id="x'); DELETE FROM orders; --", name=None, city=None, tags=None, age=25),
]
ORDERS = [
    dict(
        order_id="o1", customer_id="h1", amount=500050, status="completed", order_date=datetime(2024, 2, 1, tzinfo=UTC)
    ),
    dict(order_id="o2", customer_id="h2", amount=0, status="completed", order_date=datetime(1970, 1, 1, tzinfo=UTC)),
    dict(
        order_id="o'3",
        customer_id="x'); DELETE FROM orders; --",
        amount=900_000_000_000_000,
        status="completed",
        order_date=datetime(2024, 2, 29, 23, 59, tzinfo=UTC),
    ),
]
ALL = {c["customer_id"] for c in CUSTOMERS}
INJECTOR = "x'); DELETE FROM orders; --"


def cond(field, operator, value=None, **extra) -> dict:
    item = {"field": field, "operator": operator, **extra}
    if value is not None:
        item["value"] = value
    return {"op": "and", "rules": [item]}


@pytest.fixture(scope="module")
def con():
    connection = loaded_duckdb(CUSTOMERS, ORDERS)
    yield connection
    assert connection.execute("SELECT count(*) FROM customers").fetchone()[0] == len(CUSTOMERS)
    assert connection.execute("SELECT count(*) FROM orders").fetchone()[0] == len(ORDERS)
    assert connection.execute("SELECT count(*) FROM customer_features").fetchone()[0] == len(CUSTOMERS)
    connection.close()


EXACT = [
    (cond("city", "=", DROP), {"h1"}),
    (cond("city", "=", " '; drop table CUSTOMERS; -- "), {"h1"}),
    (cond("name", "contains", "--"), {"h1"}),
    (cond("name", "contains", "'); DROP"), {"h1"}),
    (cond("name", "contains", "%"), {"h2"}),  # no LIKE wildcards
    (cond("name", "contains", "_"), {"h2"}),
    (cond("name", "starts_with", "a_b%"), {"h2"}),
    (cond("name", "=", 'SAY "HI"'), {"h3"}),
    (cond("name", "contains", "\\"), set()),
    (cond("city", "=", "zoë😀"), {"h2"}),
    (cond("city", "=", "\u202eEVIL"), {"h3"}),
    (cond("city", "contains", "\x00"), set()),
    (cond("city", "in", [DROP, "?", "$1", ":p", "%s"]), {"h1"}),
    (cond("city", "not_in", ["?"] * 1000), {"h1", "h2", "h3"}),
    (cond("tags", "contains", "A'B"), {"h1"}),
    (cond("tags", "contains_all", ["--", "a'b"]), {"h1"}),
    (cond("tags", "contains_any", ["नमस्ते", "?"]), {"h2"}),
    (cond("customer_id", "=", INJECTOR), {INJECTOR}),
    (cond("customer_id", "starts_with", "x'"), {INJECTOR}),
    (cond("total_spend", ">=", 9_000_000_000_000), {INJECTOR}),  # 9e14 paise, exactly
    (cond("total_spend", ">", 9_000_000_000_000), set()),
    (cond("total_spend", ">", 8_999_999_999_999.99), {INJECTOR}),
    (cond("total_spend", ">", 10**13), set()),
    (cond("total_spend", ">", -(10**13)), ALL),
    (cond("avg_order_value", "=", 9_000_000_000_000), {INJECTOR}),
    (cond("avg_order_value", ">=", -(10**13)), {"h1", "h2", INJECTOR}),
    (cond("total_spend", "=", -0.0), {"h2", "h3"}),
    (cond("age", "=", -0.0), {"h2"}),
    (cond("age", "<", 10**15), {"h1", "h2", INJECTOR}),
    (cond("age", ">", -(10**15)), {"h1", "h2", INJECTOR}),
    (cond("days_since_last_order", ">", 10**15), set()),
    (cond("days_since_last_order", ">=", 19_782), {"h2"}),  # 1970-01-01 to 2024-03-01
    (cond("order_count", ">=", 1, within_days=100_000), {"h1", "h2", INJECTOR}),
    (cond("signup_date", "before", "0001-01-01"), set()),
    (cond("last_order_date", "after", "9999-12-31"), set()),
    (cond("last_order_date", "in_last_days", 100_000), {"h1", "h2", INJECTOR}),
    (cond("last_order_date", "not_in_last_days", 100_000), set()),
    ({"op": "OR", "rules": [cond("age", "=", 40), cond("age", "=", 0)]}, {"h1", "h2"}),
]


@pytest.mark.parametrize("rule, expected", EXACT, ids=[str(i) for i in range(len(EXACT))])
def test_hostile_values_give_exact_audiences(con, rule, expected):
    assert rule_audience(con, rule, AS_OF) == expected


REJECTED = [
    (cond("city; DROP TABLE customers", "=", "x"), "rules[0].field"),
    (cond("f.city_key) OR (1=1", "=", "x"), "rules[0].field"),
    (cond('city" --', "=", "x"), "rules[0].field"),
    (cond("city", "= 1 OR 1=1", "x"), "rules[0].operator"),
    (cond("city", "=", "x", **{"value); DROP": 1}), "rules[0]"),
    (cond("total_spend", ">", 1e308), "rules[0].value"),
    (cond("total_spend", ">", -1e308), "rules[0].value"),
    (cond("total_spend", ">", float("nan")), "rules[0].value"),
    (cond("total_spend", ">", float("inf")), "rules[0].value"),
    (cond("total_spend", ">", float("-inf")), "rules[0].value"),
    (cond("total_spend", ">", 5e-324), "rules[0].value"),
    (cond("age", "=", 10**30), "rules[0].value"),
    (cond("age", "=", 2**63), "rules[0].value"),
    (cond("age", "=", 1e-300), "rules[0].value"),
    (cond("age", "=", True), "rules[0].value"),
    (cond("total_spend", "=", False), "rules[0].value"),
    (cond("city", "=", True), "rules[0].value"),
    (cond("city", "=", {"$ne": None}), "rules[0].value"),
    (cond("city", "=", ["a", "b"]), "rules[0].value"),
    (cond("city", "in", [["nested"]]), "rules[0].value[0]"),
    (cond("age", "between", [[1, 2], 3]), "rules[0].value[0]"),
    (cond("age", "between", {"lo": 1, "hi": 2}), "rules[0].value"),
    (cond("city", "=", "x" * 10_000), "rules[0].value"),
    (cond("tags", "contains_any", ["x"] * 1001), "rules[0].value"),
    (cond("signup_date", "on", "2024-02-30"), "rules[0].value"),
    (cond("signup_date", "on", "2024-03-01'; DROP TABLE customers; --"), "rules[0].value"),
    (cond("signup_date", "in_last_days", 10**9), "rules[0].value"),
    (cond("signup_date", "in_last_days", True), "rules[0].value"),
    (cond("order_count", ">", 1, within_days=10**9), "rules[0].within_days"),
    (cond("order_count", ">", 1, within_days=-1), "rules[0].within_days"),
    (cond("order_count", ">", 1, within_days="7; DROP TABLE orders"), "rules[0].within_days"),
    ({"op": "and; DROP TABLE customers", "rules": [{"field": "age", "operator": "is_empty"}]}, "op"),
    ({"op": "and", "rules": [{"field": "age", "operator": "is_empty"}] * 501}, "rules[500]"),
    ("SELECT * FROM customers", "(top level)"),
    (None, "(top level)"),
    (42, "(top level)"),
]


@pytest.mark.parametrize("rule, location", REJECTED, ids=[str(i) for i in range(len(REJECTED))])
def test_hostile_rules_are_rejected_naming_the_place(con, rule, location):
    with pytest.raises(InvalidInput) as caught:
        compile_rule(rule, AS_OF)
    assert caught.value.location == location
    assert caught.value.message


@pytest.mark.parametrize("as_of", ["2024-13-01", "'; DROP TABLE orders; --", date(1, 1, 1), 20240301, None])
def test_hostile_as_of_is_rejected(as_of):
    with pytest.raises(InvalidInput) as caught:
        compile_rule(cond("age", "is_empty"), as_of)
    assert caught.value.location == "as_of"
