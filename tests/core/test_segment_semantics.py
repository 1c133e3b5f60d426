"""Every operator and every edge of the segment-rule contract, on one small data set.

Each case runs through DuckDB (schema -> features -> compiled SQL) and through the plain-Python
reference evaluator; both must give exactly the expected customers.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest

from crm.segment_engine import build_features
from crm.segment_engine.compile_sql import top_level_predicates
from crm.segment_engine.reference import evaluate
from tests.support import loaded_duckdb, rule_audience

AS_OF = date(2024, 3, 1)
UTC = UTC
IST = timezone(timedelta(hours=5, minutes=30))


def days_ago(n: int, at: time = time(12), tz=UTC) -> datetime:
    return datetime.combine(AS_OF - timedelta(days=n), at, tz)


CUSTOMERS = [
    dict(
        customer_id="c1",
        name="Asha Rao",
        email="asha@example.com",
        phone="+91 98200 00001",
        city=" Mumbai ",
        gender="Female",
        age=30,
        signup_date=datetime(2024, 3, 1, 2, 0, tzinfo=IST),  # 2024-02-29 in UTC
        tags=["VIP", "newsletter"],
    ),
    dict(
        customer_id="c2",
        name="Ravi Kumar",
        email="ravi@example.com",
        city="PUNE",
        gender="male",
        age=45,
        signup_date=datetime(2023, 1, 1, tzinfo=UTC),
        tags=[],
    ),
    dict(customer_id="c3", name="  ", email="", phone="", city="", gender=None, age=None, signup_date=None, tags=None),
    dict(
        customer_id="c4",
        name="Meera O'Neil",
        city="Delhi",
        gender="female",
        age=30,
        signup_date=datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC),
        tags=[" vip ", ""],
    ),
    dict(
        customer_id="c5",
        name="Zoë",
        city="mumbai",
        gender="FEMALE ",
        age=18,
        signup_date=datetime(2024, 2, 1, tzinfo=UTC),
        tags=["gold"],
    ),
    dict(
        customer_id="c6",
        name="Kabir",
        city="Navi Mumbai",
        gender="male",
        age=0,
        signup_date=days_ago(30, time(0)),
        tags=["Gold", "VIP"],
    ),
]

ORDERS = [
    # c1: ₹6,000.50 over 2 completed orders (avg ₹3,000.25), last 10 days ago
    dict(order_id="o1", customer_id="c1", amount=500050, status="completed", order_date=days_ago(10)),
    dict(
        order_id="o2", customer_id="c1", amount=100000, status="completed", order_date=datetime(2023, 11, 1, tzinfo=UTC)
    ),
    dict(order_id="o3", customer_id="c1", amount=999999, status="cancelled", order_date=days_ago(1)),
    # c2: one order at 02:00 IST on the as-of day, which is the day before in UTC
    dict(
        order_id="o4",
        customer_id="c2",
        amount=500000,
        status="completed",
        order_date=datetime(2024, 3, 1, 2, 0, tzinfo=IST),
    ),
    dict(order_id="o5", customer_id="c2", amount=250000, status="refunded", order_date=days_ago(5)),
    # c3: a free order exactly 90 days ago
    dict(order_id="o6", customer_id="c3", amount=0, status="completed", order_date=days_ago(90)),
    # c4: 91 days ago; 00:30 IST 30 days ago (= 31 days ago in UTC); 23:59:59 UTC 30 days ago
    dict(order_id="o7", customer_id="c4", amount=300000, status="completed", order_date=days_ago(91, time(0))),
    dict(order_id="o8", customer_id="c4", amount=200000, status="completed", order_date=days_ago(30, time(0, 30), IST)),
    dict(order_id="o9", customer_id="c4", amount=100000, status="completed", order_date=days_ago(30, time(23, 59, 59))),
    # c6: an order dated after the as-of day
    dict(
        order_id="o10",
        customer_id="c6",
        amount=700000,
        status="completed",
        order_date=datetime.combine(AS_OF + timedelta(days=2), time(9), UTC),
    ),
]

ALL = {"c1", "c2", "c3", "c4", "c5", "c6"}


@pytest.fixture(scope="module")
def con():
    connection = loaded_duckdb(CUSTOMERS, ORDERS)
    yield connection
    connection.close()


def audience(con, rule, as_of=AS_OF) -> set[str]:
    return rule_audience(con, rule, as_of)


def one(field, operator, value=None, within_days=None) -> dict:
    cond = {"field": field, "operator": operator}
    if value is not None:
        cond["value"] = value
    if within_days is not None:
        cond["within_days"] = within_days
    return {"op": "and", "rules": [cond]}


CASES = [
    # number
    (one("age", "=", 30), {"c1", "c4"}),
    (one("age", "=", 30.0), {"c1", "c4"}),
    (one("age", "!=", 30), {"c2", "c5", "c6"}),  # c3 has no age: != is false too
    (one("age", ">", 30), {"c2"}),
    (one("age", ">=", 30), {"c1", "c2", "c4"}),
    (one("age", "<", 30), {"c5", "c6"}),
    (one("age", "<=", 18), {"c5", "c6"}),
    (one("age", "between", [18, 30]), {"c1", "c4", "c5"}),
    (one("age", "between", [30, 30]), {"c1", "c4"}),
    (one("age", "is_empty"), {"c3"}),
    (one("age", "is_not_empty"), ALL - {"c3"}),
    (one("order_count", "=", 0), {"c5"}),
    (one("order_count", ">=", 2), {"c1", "c4"}),
    (one("order_count", "is_empty"), set()),  # never missing: 0 without orders
    # money: rupees in rules, paise in data, compared exactly
    (one("total_spend", ">", 5000), {"c1", "c4", "c6"}),
    (one("total_spend", "=", 6000.50), {"c1"}),
    (one("total_spend", ">", 6000.49), {"c1", "c6"}),
    (one("total_spend", "<", 6000.51), {"c1", "c2", "c3", "c4", "c5"}),
    (one("total_spend", ">=", 6000.5), {"c1", "c6"}),
    (one("total_spend", "!=", 0), {"c1", "c2", "c4", "c6"}),
    (one("total_spend", "=", 0), {"c3", "c5"}),
    (one("total_spend", "<=", 5000), {"c2", "c3", "c5"}),
    (one("total_spend", "between", [5000, 6000]), {"c2", "c4"}),
    (one("total_spend", "is_empty"), set()),
    (one("total_spend", "is_not_empty"), ALL),
    (one("avg_order_value", "=", 3000.25), {"c1"}),
    (one("avg_order_value", ">", 2000), {"c1", "c2", "c6"}),
    (one("avg_order_value", "!=", 2000), {"c1", "c2", "c3", "c6"}),  # c5 has none: missing
    (one("avg_order_value", "<", 3000.25), {"c3", "c4"}),
    (one("avg_order_value", "<=", 3000.25), {"c1", "c3", "c4"}),
    (one("avg_order_value", "between", [0, 2000]), {"c3", "c4"}),
    (one("avg_order_value", "is_empty"), {"c5"}),
    # within_days: completed orders with as_of - N <= UTC day <= as_of
    (one("order_count", ">=", 1, 30), {"c1", "c2", "c4"}),  # c4 via 23:59:59 UTC 30 days ago
    (one("order_count", "=", 0, 30), {"c3", "c5", "c6"}),  # c6's order is after as_of
    (one("order_count", ">=", 2, 31), {"c4"}),  # 00:30 IST 30 days ago is 31 days ago in UTC
    (one("order_count", ">=", 2, 30), set()),
    (one("order_count", "=", 3, 91), {"c4"}),  # 00:00:00 UTC exactly 91 days ago is in
    (one("order_count", "=", 3, 90), set()),
    (one("order_count", ">=", 1, 90), {"c1", "c2", "c3", "c4"}),  # exactly 90 days ago counts
    (one("order_count", ">=", 1, 89), {"c1", "c2", "c4"}),
    (one("total_spend", ">=", 3000, 90), {"c1", "c2", "c4"}),
    (one("total_spend", "=", 0, 30), {"c3", "c5", "c6"}),
    (one("avg_order_value", "is_empty", within_days=30), {"c3", "c5", "c6"}),
    (one("avg_order_value", "=", 0, 90), {"c3"}),
    (one("avg_order_value", "=", 1500, 31), {"c4"}),
    # days since last order (c1 10, c2 1, c3 90, c4 30, c5 none, c6 -2)
    (one("days_since_last_order", ">", 90), set()),
    (one("days_since_last_order", ">=", 90), {"c3"}),
    (one("days_since_last_order", ">", 89), {"c3"}),
    (one("days_since_last_order", "<=", 30), {"c1", "c2", "c4", "c6"}),
    (one("days_since_last_order", "=", -2), {"c6"}),
    (one("days_since_last_order", "!=", 10), {"c2", "c3", "c4", "c6"}),
    (one("days_since_last_order", "between", [1, 30]), {"c1", "c2", "c4"}),
    (one("days_since_last_order", "is_empty"), {"c5"}),
    # strings: trimmed, case-insensitive; null or empty is missing
    (one("city", "=", "mumbai"), {"c1", "c5"}),
    (one("city", "=", " MUMBAI "), {"c1", "c5"}),
    (one("city", "!=", "Mumbai"), {"c2", "c4", "c6"}),  # c3's city is empty: missing
    (one("city", "in", ["pune", "DELHI "]), {"c2", "c4"}),
    (one("city", "not_in", ["mumbai"]), {"c2", "c4", "c6"}),
    (one("city", "contains", "mum"), {"c1", "c5", "c6"}),
    (one("city", "not_contains", "mum"), {"c2", "c4"}),
    (one("city", "starts_with", "mum"), {"c1", "c5"}),  # " Mumbai " after trimming
    (one("city", "starts_with", "NAVI"), {"c6"}),
    (one("city", "is_empty"), {"c3"}),
    (one("city", "is_not_empty"), ALL - {"c3"}),
    (one("name", "is_empty"), {"c3"}),  # whitespace only
    (one("name", "contains", "o'n"), {"c4"}),
    (one("name", "=", "ZOË"), {"c5"}),
    (one("gender", "=", "female"), {"c1", "c4", "c5"}),
    (one("gender", "is_empty"), {"c3"}),
    (one("email", "is_empty"), {"c3", "c4", "c5", "c6"}),
    (one("customer_id", "=", "C1"), {"c1"}),
    (one("phone", "is_not_empty"), {"c1"}),
    # tags: a list, never missing
    (one("tags", "contains", "vip"), {"c1", "c4", "c6"}),
    (one("tags", "contains", " VIP "), {"c1", "c4", "c6"}),
    (one("tags", "not_contains", "vip"), {"c2", "c3", "c5"}),  # true on no tags
    (one("tags", "contains_any", ["gold", "Newsletter"]), {"c1", "c5", "c6"}),
    (one("tags", "contains_all", ["gold", "VIP"]), {"c6"}),
    (one("tags", "is_empty"), {"c2", "c3"}),
    (one("tags", "is_not_empty"), {"c1", "c4", "c5", "c6"}),
    # dates: UTC calendar days
    (one("signup_date", "on", "2024-02-29"), {"c1", "c4"}),  # 02:00 IST on 1 March
    (one("signup_date", "on", "2024-03-01"), set()),
    (one("signup_date", "on", "2024-03-01T02:00:00+05:30"), {"c1", "c4"}),
    (one("signup_date", "before", "2024-02-29"), {"c2", "c5", "c6"}),
    (one("signup_date", "after", "2024-02-01"), {"c1", "c4"}),
    (one("signup_date", "between", ["2024-01-31", "2024-02-01"]), {"c5", "c6"}),
    (one("signup_date", "in_last_days", 30), {"c1", "c4", "c5", "c6"}),  # exactly 30 days ago in
    (one("signup_date", "in_last_days", 29), {"c1", "c4", "c5"}),
    (one("signup_date", "not_in_last_days", 29), {"c2", "c6"}),
    (one("signup_date", "not_in_last_days", 30), {"c2"}),
    (one("signup_date", "is_empty"), {"c3"}),
    (one("signup_date", "is_not_empty"), ALL - {"c3"}),
    (one("last_order_date", "in_last_days", 30), {"c1", "c2", "c4"}),  # c6's is in the future
    (one("last_order_date", "not_in_last_days", 30), {"c3"}),
    (one("last_order_date", "not_in_last_days", 89), {"c3"}),
    (one("last_order_date", "not_in_last_days", 90), set()),
    (one("last_order_date", "in_last_days", 90), {"c1", "c2", "c3", "c4"}),
    (one("last_order_date", "in_last_days", 0), set()),
    (one("last_order_date", "after", "2024-03-01"), {"c6"}),
    (one("last_order_date", "is_empty"), {"c5"}),
    (one("first_order_date", "before", "2023-12-02"), {"c1", "c4"}),
    (one("first_order_date", "on", "2023-12-02"), {"c3"}),
    # groups: two-valued logic, `not` over missing values
    ({"op": "and", "not": True, "rules": [{"field": "age", "operator": "=", "value": 30}]}, {"c2", "c3", "c5", "c6"}),
    ({"op": "and", "not": True, "rules": [{"field": "city", "operator": "!=", "value": "mumbai"}]}, {"c1", "c3", "c5"}),
    (
        {
            "op": "or",
            "rules": [
                {"field": "age", "operator": "is_empty"},
                {"field": "tags", "operator": "contains", "value": "gold"},
            ],
        },
        {"c3", "c5", "c6"},
    ),
    (
        {
            "op": "and",
            "rules": [
                {"field": "total_spend", "operator": ">", "value": 5000},
                {
                    "op": "or",
                    "not": True,
                    "rules": [
                        {"field": "city", "operator": "=", "value": "mumbai"},
                        {"field": "tags", "operator": "contains", "value": "gold"},
                    ],
                },
            ],
        },
        {"c4"},
    ),
    (
        {
            "op": "and",
            "rules": [
                {"field": "total_spend", "operator": ">", "value": 5000},
                {"field": "days_since_last_order", "operator": ">", "value": 5},
                {
                    "op": "or",
                    "rules": [
                        {"field": "city", "operator": "in", "value": ["Mumbai", "Pune"]},
                        {"field": "order_count", "operator": ">=", "value": 2, "within_days": 31},
                    ],
                },
            ],
        },
        {"c1", "c4"},
    ),
]


@pytest.mark.parametrize("rule, expected", CASES, ids=[str(i) for i in range(len(CASES))])
def test_rule_selects_exactly_the_expected_customers(con, rule, expected):
    assert audience(con, rule) == expected
    assert evaluate(rule, CUSTOMERS, ORDERS, AS_OF) == expected


def test_every_operator_of_every_field_type_has_a_case():
    from crm.segment_engine.catalogue import FIELDS
    from crm.segment_engine.operators import operators_for

    covered = {(FIELDS[c["field"]].type, c["operator"]) for rule, _ in CASES for c in rule["rules"] if "field" in c}
    wanted = {(t, o.key) for t in {f.type for f in FIELDS.values()} for o in operators_for(t)}
    assert wanted - covered == set()


def test_waterfall_counts_each_top_level_rule_alone_and_cumulatively(con):
    rule = {
        "op": "and",
        "rules": [
            {"field": "total_spend", "operator": ">", "value": 5000},  # c1 c4 c6
            {"field": "tags", "operator": "contains", "value": "vip"},  # c1 c4 c6
            {"field": "city", "operator": "=", "value": "mumbai"},
        ],
    }  # c1 c5
    sql, params = top_level_predicates(rule, AS_OF).waterfall_query()
    total, *rest = con.execute(sql, params).fetchone()
    assert total == 6
    assert rest == [3, 3, 2, 3, 3, 1, 1]


def test_incremental_rebuild_replaces_only_the_given_customers():
    connection = loaded_duckdb(CUSTOMERS, ORDERS)
    connection.execute("UPDATE orders SET status = 'refunded' WHERE order_id = 'o1'")
    connection.execute("DELETE FROM customers WHERE customer_id = 'c6'")
    connection.execute("UPDATE customers SET city = 'Pune' WHERE customer_id = 'c5'")
    connection.execute("UPDATE customers SET city = 'Goa' WHERE customer_id = 'c2'")
    build_features(connection, ["c1", "c5", "c6"])
    rows = dict(connection.execute("SELECT customer_id, total_spend_paise FROM customer_features").fetchall())
    assert rows == {"c1": 100000, "c2": 500000, "c3": 0, "c4": 600000, "c5": 0}
    # c2 was not passed, so its row keeps the old city until it is rebuilt
    assert audience(connection, one("city", "=", "pune")) == {"c2", "c5"}
    build_features(connection, ["c2"])
    assert audience(connection, one("city", "=", "pune")) == {"c5"}
