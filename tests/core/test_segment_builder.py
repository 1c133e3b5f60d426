"""The builder widget's config and the tree <-> rule conversion (no browser: see tests/e2e)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import duckdb
import pytest

from crm.errors import InvalidInput
from crm.segment_builder import builder_config, rule_from_tree, rule_to_tree, tree_to_rule
from crm.segment_builder.choices import MAX_OFFERED, value_choices, with_rule_values
from crm.segment_builder.widget_config import cardinality, window_key
from crm.segment_engine import CATALOGUE, OPERATORS, build_features, create_base_tables, insert_records, parse_rule
from crm.segment_engine.catalogue import TYPES
from crm.segment_engine.model import NORMALISED_OPERATORS
from crm.segment_engine.operators import DAYS, MANY, NONE, ONE, PAIR, operators_for

# One valid value of each shape and element, so every operator gets a case.
SAMPLE = {
    ("integer", ONE): 3,
    ("integer", PAIR): [2, 5],
    ("integer", MANY): [1, 2],
    ("money", ONE): 5000.5,
    ("money", PAIR): [1000, 2500.25],
    ("money", MANY): [1, 2],
    ("text", ONE): "Mumbai",
    ("text", PAIR): ["a", "b"],
    ("text", MANY): ["Mumbai", "Pune"],
    ("date", ONE): "2024-03-01",
    ("date", PAIR): ["2024-01-01", "2024-06-30"],
    ("date", MANY): ["2024-01-01"],
}


def every_condition():
    """(id, condition) for every field x operator it takes, and windowed variants."""
    for name, field in CATALOGUE.items():
        element = TYPES[field.type].element
        for op in operators_for(field.type):
            cond = {"field": name, "operator": op.key}
            if op.shape == DAYS:
                cond["value"] = 30
            elif op.shape != NONE:
                cond["value"] = SAMPLE[(element, op.shape)]
                if field.normalise is not None and op.key in NORMALISED_OPERATORS:
                    cond["value"] = ["female", "other"] if op.shape == MANY else "female"
            yield f"{name} {op.key}", cond
            if field.windowable:
                yield f"{name} {op.key} within_days", {**cond, "within_days": 7}


CONDITIONS = list(every_condition())


def test_every_operator_of_the_table_has_a_round_trip_case():
    covered = {cond["operator"] for _, cond in CONDITIONS}
    assert covered == set(OPERATORS)
    assert {cond["field"] for _, cond in CONDITIONS} == set(CATALOGUE)


@pytest.mark.parametrize("offered", [False, True], ids=["typed", "offered"])
@pytest.mark.parametrize("case", CONDITIONS, ids=[c[0] for c in CONDITIONS])
def test_rule_to_tree_to_rule_is_identity(case, offered):
    _, cond = case
    rule = parse_rule({"op": "and", "rules": [cond]}).to_json()
    tree = rule_to_tree(rule, offered=set(CATALOGUE) if offered else ())
    json.dumps(tree)  # the widget receives it as JSON
    assert rule_from_tree(tree).to_json() == rule


def test_nested_groups_with_not_and_or_survive_the_round_trip():
    rule = {
        "op": "and",
        "rules": [
            {"field": "total_spend", "operator": ">", "value": 5000},
            {
                "op": "or",
                "not": True,
                "rules": [
                    {"field": "city", "operator": "in", "value": ["Mumbai", "Pune"]},
                    {"field": "order_count", "operator": ">=", "value": 2, "within_days": 30},
                    {"op": "and", "rules": [{"field": "tags", "operator": "is_empty"}]},
                ],
            },
        ],
    }
    expected = parse_rule(rule).to_json()
    assert rule_from_tree(rule_to_tree(rule)).to_json() == expected


def widget_output(tree: dict) -> dict:
    """What the widget itself hands back: ids, `children1` keyed by id, and extra properties."""
    counter = iter(range(10_000))

    def walk(node):
        node = {**node, "id": f"id{next(counter)}"}
        if node["type"] == "rule":
            props = node["properties"]
            node["properties"] = {**props, "fieldSrc": "field", "valueError": [None] * len(props["value"])}
        else:
            node["children1"] = {c["id"]: c for c in map(walk, node.pop("children"))}
        return node

    return walk(tree)


def test_the_widgets_own_tree_shape_is_read_too():
    rule = {
        "op": "or",
        "rules": [
            {"field": "age", "operator": "between", "value": [25, 40]},
            {"field": "tags", "operator": "contains_all", "value": ["vip", "new"]},
        ],
    }
    assert rule_from_tree(widget_output(rule_to_tree(rule))).to_json() == parse_rule(rule).to_json()


def one_rule_tree(**props) -> dict:
    return {
        "type": "group",
        "properties": {"conjunction": "AND"},
        "children": [
            {"type": "group", "properties": {"conjunction": "OR"}, "children": [{"type": "rule", "properties": props}]}
        ],
    }


@pytest.mark.parametrize(
    "props, location, words",
    [
        ({}, "rules[0].rules[0].field", "choose a field"),
        ({"field": "total_spend"}, "rules[0].rules[0].operator", "choose how to compare Total spend"),
        ({"field": "total_spend", "operator": ">", "value": [None]}, "rules[0].rules[0].value", "needs"),
        ({"field": "city", "operator": "=", "value": ["  "]}, "rules[0].rules[0].value", "needs text"),
        ({"field": "city", "operator": "in", "value": [[]]}, "rules[0].rules[0].value", "needs a list"),
        ({"field": "age", "operator": "between", "value": [30, None]}, "rules[0].rules[0].value[1]", "whole number"),
        ({"field": "age", "operator": "between", "value": [40, 30]}, "rules[0].rules[0].value", "swap"),
        (
            {"field": window_key("order_count"), "operator": window_key(">="), "value": [2, None]},
            "rules[0].rules[0].within_days",
            "number of days",
        ),
        (
            {"field": window_key("order_count"), "operator": window_key(">="), "value": [2, 0]},
            "rules[0].rules[0].within_days",
            "between 1",
        ),
        ({"field": "signup_date", "operator": "in_last_days", "value": [2.5]}, "rules[0].rules[0].value", "whole"),
        ({"field": "nope", "operator": "="}, "rules[0].rules[0].field", "unknown field"),
    ],
)
def test_incomplete_or_wrong_conditions_say_where_and_what(props, location, words):
    with pytest.raises(InvalidInput) as caught:
        rule_from_tree(one_rule_tree(**props))
    assert caught.value.location == location
    assert words in caught.value.message


def test_an_empty_builder_asks_for_a_condition():
    with pytest.raises(InvalidInput) as caught:
        rule_from_tree({"type": "group", "properties": {"conjunction": "AND", "not": False}})
    assert "add at least one condition" in caught.value.message


def test_an_empty_inner_group_is_named():
    tree = {
        "type": "group",
        "children": [
            {"type": "rule", "properties": {"field": "age", "operator": ">", "value": [3]}},
            {"type": "group", "properties": {"conjunction": "OR"}, "children": []},
        ],
    }
    with pytest.raises(InvalidInput) as caught:
        rule_from_tree(tree)
    assert caught.value.location == "rules[1].rules"


def test_tree_to_rule_keeps_a_single_typed_list_value_as_a_list():
    tree = one_rule_tree(field="city", operator="in", value=["Mumbai"])
    assert tree_to_rule(tree)["rules"][0]["rules"][0]["value"] == ["Mumbai"]


# --- the widget config ---------------------------------------------------------------------


def test_config_offers_every_field_and_operator_of_the_catalogue_once():
    config = builder_config()
    json.dumps(config)
    windowed = {window_key(n) for n, f in CATALOGUE.items() if f.windowable}
    assert set(config["fields"]) == set(CATALOGUE) | windowed
    assert set(config["operators"]) == set(OPERATORS) | {
        window_key(k)
        for k in OPERATORS
        if any(f.windowable and f.type in OPERATORS[k].types for f in CATALOGUE.values())
    }
    for name, field in config["fields"].items():
        base = CATALOGUE[name.removesuffix("__within_days")]
        type_config = config["types"][field["type"]]
        expected = [o.key for o in operators_for(base.type)]
        if name in windowed:
            expected = [window_key(k) for k in expected]
        assert type_config["operators"] == expected
        listed = [op for widget in type_config["widgets"].values() for op in widget["operators"]]
        assert sorted(listed) == sorted(expected)  # every operator has exactly one value widget


def test_config_uses_the_operator_table_labels_and_value_counts():
    config = builder_config()
    for key, op in OPERATORS.items():
        assert config["operators"][key]["label"] == op.label
        assert config["operators"][key]["cardinality"] == cardinality(op)
    assert config["operators"][window_key("between")]["cardinality"] == 3
    assert config["operators"][window_key(">")]["textSeparators"][-1] == "in the last"


def test_value_widgets_follow_the_field_and_operator():
    config = builder_config({"city": ["Mumbai", "Pune"], "tags": ["vip"]})

    def widget(field, op):
        type_config = config["types"][config["fields"][field]["type"]]
        return next(w for w, entry in type_config["widgets"].items() if op in entry["operators"])

    assert widget("total_spend", ">") == "number"
    assert "₹" in config["fields"]["total_spend"]["label"]
    assert widget("signup_date", "before") == "date"
    assert widget("signup_date", "in_last_days") == "number"
    assert config["fields"]["signup_date"]["fieldSettings"]["valueFormat"] == "YYYY-MM-DD"
    assert widget("city", "=") == "select"
    assert widget("city", "in") == "multiselect"
    assert widget("city", "contains") == "text"
    assert widget("name", "=") == "text"  # no values offered: typed
    assert widget("tags", "contains") == "select"
    assert widget("tags", "contains_any") == "multiselect"
    assert config["fields"]["city"]["fieldSettings"]["listValues"] == [
        {"value": "Mumbai", "title": "Mumbai"},
        {"value": "Pune", "title": "Pune"},
    ]
    assert config["fields"]["city"]["fieldSettings"]["allowCustomValues"] is True


# --- values offered from the data ----------------------------------------------------------


@pytest.fixture
def con():
    con = duckdb.connect(":memory:")
    create_base_tables(con)
    customers = [
        {"customer_id": f"c{i}", "email": f"p{i}@example.com", "city": city, "gender": "female", "tags": tags}
        for i, (city, tags) in enumerate(
            [("Mumbai", ["vip", "new"]), (" mumbai", ["VIP"]), ("Pune", []), (None, ["new"]), ("Mumbai", [])]
        )
    ]
    customers += [
        {"customer_id": f"x{i}", "email": f"x{i}@example.com", "city": "Delhi", "tags": []} for i in range(MAX_OFFERED)
    ]
    insert_records(con, "customers", customers)
    insert_records(
        con,
        "orders",
        [
            {
                "order_id": "o1",
                "customer_id": "c0",
                "amount": 100,
                "status": "completed",
                "order_date": datetime(2025, 1, 1, tzinfo=UTC),
            }
        ],
    )
    build_features(con)
    return con


def test_cities_and_tags_are_offered_most_common_first_ignoring_case(con):
    choices = value_choices(con.cursor())
    assert choices["city"][:2] == ["Delhi", "Mumbai"] and len(choices["city"]) == 3
    assert [t.lower() for t in choices["tags"]] == ["new", "vip"]  # ties in name order
    assert choices["gender"] == ["female"]
    assert "email" not in choices and "customer_id" not in choices  # too many values to pick from


def test_a_rules_own_values_are_added_to_the_offered_ones():
    rule = {
        "op": "and",
        "rules": [
            {"field": "city", "operator": "in", "value": ["mumbai", "Nagpur"]},
            {"op": "or", "rules": [{"field": "tags", "operator": "contains", "value": "gold"}]},
        ],
    }
    merged = with_rule_values({"city": ["Mumbai"], "tags": ["vip"]}, rule)
    assert merged == {"city": ["Mumbai", "Nagpur"], "tags": ["vip", "gold"]}
