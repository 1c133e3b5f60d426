"""Rule validation (errors that name the place and say how to fix it) and the tables behind it."""

from __future__ import annotations

import sys

import duckdb
import pytest

from crm.errors import InvalidInput
from crm.segment_engine import build_features, create_base_tables, parse_rule
from crm.segment_engine.catalogue import FIELDS, TYPES
from crm.segment_engine.model import typed_value
from crm.segment_engine.operators import OPERATORS, operators_for
from crm.segment_engine.text_keys import text_key_sql

CONTRACT_EXAMPLE = {
    "op": "and",
    "rules": [
        {"field": "total_spend", "operator": ">", "value": 5000},
        {"field": "days_since_last_order", "operator": ">", "value": 90},
        {
            "op": "or",
            "not": False,
            "rules": [
                {"field": "city", "operator": "in", "value": ["Mumbai", "Pune"]},
                {"field": "order_count", "operator": ">=", "value": 2, "within_days": 30},
            ],
        },
    ],
}


def cond(**kw) -> dict:
    return {"op": "and", "rules": [kw]}


def test_contract_example_parses_and_round_trips_unchanged():
    group = parse_rule(CONTRACT_EXAMPLE)
    assert group.to_json() == {**CONTRACT_EXAMPLE, "not": False}
    assert parse_rule(group.to_json()) == group
    assert parse_rule(group) == group


def test_rule_given_as_json_text_parses():
    assert parse_rule('{"op": "or", "rules": [{"field": "tags", "operator": "is_empty"}]}').op == "or"


@pytest.mark.parametrize(
    "rule, location, words",
    [
        ({"field": "age", "operator": "=", "value": 3}, "(top level)", "wrap the condition"),
        ([], "(top level)", "group object"),
        ("{not json", "(top level)", "not valid JSON"),
        ({"op": "and", "rules": []}, "rules", "empty group"),
        ({"op": "and"}, "rules", "must be a list"),
        ({"op": "xor", "rules": [{"field": "age", "operator": "is_empty"}]}, "op", '"and" or "or"'),
        ({"op": "and", "not": "yes", "rules": [{"field": "age", "operator": "is_empty"}]}, "not", "true or false"),
        (
            {
                "op": "and",
                "rules": [
                    {"op": "or", "rules": [{"field": "age", "operator": "is_empty"}, {"op": "and", "rules": []}]}
                ],
            },
            "rules[0].rules[1].rules",
            "empty group",
        ),
        (cond(field="citty", operator="=", value="x"), "rules[0].field", "valid fields: customer_id"),
        (cond(field="city; DROP TABLE customers", operator="=", value="x"), "rules[0].field", "unknown field"),
        (cond(field=["city"], operator="=", value="x"), "rules[0].field", "unknown field"),
        (cond(field="city", operator=">", value="x"), "rules[0].operator", "use one of: =, !=, in"),
        (cond(field="city", operator="like", value="x"), "rules[0].operator", "unknown operator"),
        (cond(field="city", operator=["="], value="x"), "rules[0].operator", "unknown operator"),
        (cond(field="city", operator="=", value="x", extra=1), "rules[0]", 'unexpected key "extra"'),
        (cond(field="city", operator="="), "rules[0].value", "needs text"),
        (cond(field="city", operator="=", value="  "), "rules[0].value", "use is_empty"),
        (cond(field="city", operator="=", value="x" * 201), "rules[0].value", "too long"),
        (cond(field="city", operator="=", value=5), "rules[0].value", "expected text"),
        (cond(field="city", operator="=", value=["a"]), "rules[0].value", "got a list"),
        (cond(field="city", operator="in", value="Mumbai"), "rules[0].value", "needs a list"),
        (cond(field="city", operator="in", value=[]), "rules[0].value", "at least one"),
        (cond(field="city", operator="in", value=["a", 3]), "rules[0].value[1]", "expected text"),
        (cond(field="age", operator="=", value=True), "rules[0].value", "boolean"),
        (cond(field="age", operator="=", value="30"), "rules[0].value", "expected a whole number"),
        (cond(field="age", operator="=", value=30.5), "rules[0].value", "whole number"),
        (cond(field="age", operator="=", value=[[30]]), "rules[0].value", "got a list"),
        (cond(field="age", operator="=", value={"$gt": 1}), "rules[0].value", "got an object"),
        (cond(field="age", operator="=", value=10**16), "rules[0].value", "out of range"),
        (cond(field="total_spend", operator=">", value=float("nan")), "rules[0].value", "finite"),
        (cond(field="total_spend", operator=">", value=float("inf")), "rules[0].value", "finite"),
        (cond(field="total_spend", operator=">", value=1e308), "rules[0].value", "out of range"),
        (cond(field="total_spend", operator=">", value=10.005), "rules[0].value", "at most 2 decimals"),
        (cond(field="total_spend", operator="between", value=[10]), "rules[0].value", "[low, high]"),
        (cond(field="total_spend", operator="between", value=[10, 5]), "rules[0].value", "low <= high"),
        (cond(field="total_spend", operator="between", value=5), "rules[0].value", "needs [low, high]"),
        (cond(field="total_spend", operator="between", value=[1, "x"]), "rules[0].value[1]", "amount"),
        (cond(field="signup_date", operator="on", value="01/03/2024"), "rules[0].value", "2024-03-01"),
        (
            cond(field="signup_date", operator="between", value=["2024-03-02", "2024-03-01"]),
            "rules[0].value",
            "low <= high",
        ),
        (cond(field="signup_date", operator="in_last_days", value=-1), "rules[0].value", "between 0"),
        (cond(field="signup_date", operator="in_last_days", value=1.5), "rules[0].value", "whole number"),
        (cond(field="tags", operator="is_empty", value="vip"), "rules[0].value", "takes no value"),
        (cond(field="tags", operator="contains_all", value="vip"), "rules[0].value", "needs a list"),
        (
            cond(field="age", operator=">", value=3, within_days=30),
            "rules[0].within_days",
            "only to total_spend, order_count, avg_order_value",
        ),
        (cond(field="order_count", operator=">", value=3, within_days=0), "rules[0].within_days", "between 1"),
        (cond(field="order_count", operator=">", value=3, within_days=True), "rules[0].within_days", "whole number"),
        (cond(field="order_count", operator=">", value=3, within_days="30"), "rules[0].within_days", "whole number"),
    ],
)
def test_invalid_rule_is_rejected_naming_the_place(rule, location, words):
    with pytest.raises(InvalidInput) as caught:
        parse_rule(rule)
    assert caught.value.location == location
    assert words in caught.value.message


@pytest.mark.parametrize("empty", [None, "", []])
def test_presence_operators_accept_an_empty_placeholder_value(empty):
    group = parse_rule(cond(field="city", operator="is_empty", value=empty))
    assert group.to_json()["rules"][0] == {"field": "city", "operator": "is_empty"}


def test_groups_nested_too_deep_are_rejected_not_a_recursion_error():
    rule = {"field": "age", "operator": "is_empty"}
    for _ in range(sys.getrecursionlimit() + 10):
        rule = {"op": "and", "rules": [rule]}
    with pytest.raises(InvalidInput, match="nest too deep"):
        parse_rule(rule)


@pytest.mark.parametrize(
    "field, operator, value, typed",
    [
        ("total_spend", ">", 5000, 500000),
        ("total_spend", ">", 5000.50, 500050),
        ("total_spend", ">", 0.29, 29),  # 0.29 * 100 in binary float would be 28.999...
        ("total_spend", "between", [0.1, 0.3], (10, 30)),
        ("total_spend", ">", -0.0, 0),
        ("age", "=", 30.0, 30),
        ("signup_date", "on", "2024-03-01T02:00:00+05:30", "2024-02-29"),
        ("signup_date", "on", "2024-03-01T23:30:00-01:00", "2024-03-02"),
        ("city", "=", "  Pune ", "Pune"),
    ],
)
def test_values_are_read_exactly(field, operator, value, typed):
    group = parse_rule(cond(field=field, operator=operator, value=value))
    got = typed_value(group.rules[0])
    assert (got.isoformat() if hasattr(got, "isoformat") else got) == typed


def test_every_field_type_has_operators_and_every_operator_a_known_type():
    for field in FIELDS.values():
        assert field.type in TYPES
        assert operators_for(field.type), field.name
    for operator in OPERATORS.values():
        assert set(operator.sql) <= set(TYPES) and set(operator.sql) == set(operator.english)


def test_every_catalogue_column_exists_in_the_feature_table():
    con = duckdb.connect()
    create_base_tables(con)
    build_features(con)
    columns = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'customer_features'"
        ).fetchall()
    }
    assert {f.column for f in FIELDS.values()} <= columns


def test_text_keys_trim_exactly_the_whitespace_python_strips():
    con = duckdb.connect()
    chars = [chr(i) for i in range(0x3100) if not 0xD800 <= i <= 0xDFFF]
    padded = text_key_sql("(c || c || 'x' || c)")
    sql = f"SELECT c, {padded} FROM unnest(?) AS t(c)"
    for char, key in con.execute(sql, [chars]).fetchall():
        assert (key == "x") == char.isspace(), repr(char)


@pytest.mark.parametrize(
    "rule, english",
    [
        (
            CONTRACT_EXAMPLE,
            "Customers who spent more than ₹5,000 and whose last order was more than 90 days ago and "
            "(whose city is one of “Mumbai”, “Pune” or who placed at least 2 orders in the last 30 days)",
        ),
        (cond(field="total_spend", operator=">=", value=100000), "Customers who spent at least ₹1,00,000"),
        (
            cond(field="avg_order_value", operator="between", value=[12345678.5, 99999999.99]),
            "Customers whose average order value is between ₹1,23,45,678.50 and ₹9,99,99,999.99",
        ),
        (cond(field="total_spend", operator="<", value=-5.05), "Customers who spent less than -₹5.05"),
        (
            cond(field="order_count", operator=">=", value=2, within_days=1),
            "Customers who placed at least 2 orders in the last 1 day",
        ),
        (
            {
                "op": "or",
                "not": True,
                "rules": [
                    {"field": "tags", "operator": "is_empty"},
                    {"field": "signup_date", "operator": "on", "value": "2024-03-01"},
                ],
            },
            "Customers except those who have no tags or whose signup date is on 1 Mar 2024",
        ),
        (
            {
                "op": "and",
                "rules": [
                    {"field": "age", "operator": ">", "value": 30},
                    {
                        "op": "or",
                        "not": True,
                        "rules": [
                            {"field": "city", "operator": "=", "value": "Pune"},
                            {"field": "last_order_date", "operator": "not_in_last_days", "value": 90},
                        ],
                    },
                ],
            },
            "Customers whose age is more than 30 and not (whose city is “Pune” or whose last order date is "
            "more than 90 days ago)",
        ),
    ],
)
def test_rules_read_as_english(rule, english):
    from crm.segment_engine import describe_rule

    assert describe_rule(rule) == english


def test_prompt_facts_name_every_field_and_operator():
    from crm.segment_engine import prompt_facts

    text = prompt_facts()
    assert all(f"- {name} (" in text for name in FIELDS)
    assert all(f"{key} (" in text for key in OPERATORS)


def test_rule_json_schema_accepts_the_contract_example_and_rejects_unknown_fields():
    import jsonschema  # installed with schemathesis (requirements-dev.txt)

    from crm.segment_engine import rule_json_schema

    schema = rule_json_schema()
    jsonschema.validate(CONTRACT_EXAMPLE, schema)
    bad = {"op": "and", "rules": [{"field": "shoe_size", "operator": "=", "value": 9}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    assert "rules" not in schema["$defs"]["Group"]["required"]


def test_the_schema_enums_come_from_the_tables():
    from crm.segment_engine import rule_json_schema

    condition = rule_json_schema()["$defs"]["Condition"]["properties"]
    assert condition["field"]["enum"] == list(FIELDS)
    assert condition["operator"]["enum"] == list(OPERATORS)
