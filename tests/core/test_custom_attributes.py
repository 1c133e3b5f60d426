"""Custom attributes: every operator of every kind gives the SQL engine's audience and the
reference evaluator's, rules read in English, and bad rules name the attribute."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.errors import InvalidInput
from crm.segment_engine.attributes import Attribute, catalogue_with, key_for, kind_of
from crm.segment_engine.describe import describe_rule
from crm.segment_engine.model import parse_rule
from crm.segment_engine.operators import operators_for
from crm.segment_engine.reference import evaluate
from tests.support import loaded_duckdb, rule_audience

TIER = Attribute("loyalty_tier", "Loyalty Tier", "text")
RATING = Attribute("rating", "Rating", "number")
JOINED = Attribute("club_joined", "Club Joined", "date")
MEMBER = Attribute("app_user", "App User", "yes/no")
STORES = Attribute("preferred_stores", "Preferred Stores", "list")
ATTRIBUTES = (TIER, RATING, JOINED, MEMBER, STORES)
CATALOGUE = catalogue_with(ATTRIBUTES)
AS_OF = date(2024, 3, 1)
IST = timezone(timedelta(hours=5, minutes=30))

VALUES = {
    "loyalty_tier": st.none() | st.sampled_from(["Gold", " gold ", "SILVER", "Platinum", "", "Go"]),
    "rating": st.none() | st.sampled_from([0.0, 1.0, 3.5, 4.5, 4.55, -2.0, 10.0]),
    "club_joined": st.none()
    | st.sampled_from(
        [
            datetime(2024, 3, 1, tzinfo=UTC),
            datetime(2024, 2, 29, 23, 59, tzinfo=UTC),
            datetime(2024, 3, 1, 2, 0, tzinfo=IST),  # 29 Feb in UTC
            datetime(2023, 12, 1, tzinfo=UTC),
            datetime(2024, 1, 31, tzinfo=UTC),
        ]
    ),
    "app_user": st.none() | st.booleans(),
    "preferred_stores": st.none() | st.lists(st.sampled_from(["Andheri", "andheri ", "Bandra", "Powai"]), max_size=3),
}
RULE_VALUES = {
    "string": st.sampled_from(["Gold", "silver", "go", "Platinum", "x"]),
    "decimal": st.sampled_from([0, 1, 3.5, 4.5, 4.55, -2, 10]),
    "date": st.sampled_from(["2024-03-01", "2024-02-29", "2023-12-01", "2024-01-31"]),
    "yesno": st.booleans(),
    "list": st.sampled_from(["Andheri", "bandra", "Powai", "Juhu"]),
}


@st.composite
def customers(draw) -> list[dict]:
    people = []
    for i in range(draw(st.integers(1, 8))):
        attributes = {key: draw(values) for key, values in VALUES.items() if draw(st.booleans())}
        people.append({"customer_id": f"c{i}", "tags": [], "attributes": attributes if draw(st.booleans()) else None})
    return people


@st.composite
def conditions(draw) -> dict:
    attribute = draw(st.sampled_from(ATTRIBUTES))
    field = CATALOGUE[attribute.name]
    operator = draw(st.sampled_from(operators_for(field.type)))
    one = RULE_VALUES[field.type]
    value: object
    if operator.shape == "none":
        value = None
    elif operator.shape == "pair":
        value = sorted(draw(st.lists(one, min_size=2, max_size=2)))
    elif operator.shape == "many":
        value = draw(st.lists(one, min_size=1, max_size=3))
    elif operator.shape == "days":
        value = draw(st.integers(0, 120))
    else:
        value = draw(one)
    condition = {"field": attribute.name, "operator": operator.key}
    return condition if value is None else {**condition, "value": value}


def test_every_kind_offers_the_operators_of_its_type():
    assert [o.key for o in operators_for(CATALOGUE["attr.app_user"].type)] == ["=", "!=", "is_empty", "is_not_empty"]
    assert "contains_all" in [o.key for o in operators_for(CATALOGUE["attr.preferred_stores"].type)]
    assert "between" in [o.key for o in operators_for(CATALOGUE["attr.rating"].type)]
    assert "in_last_days" in [o.key for o in operators_for(CATALOGUE["attr.club_joined"].type)]
    assert "starts_with" in [o.key for o in operators_for(CATALOGUE["attr.loyalty_tier"].type)]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(people=customers(), rules=st.lists(conditions(), min_size=1, max_size=3), op=st.sampled_from(["and", "or"]))
def test_sql_and_reference_select_the_same_customers_on_attributes(people, rules, op):
    rule = parse_rule({"op": op, "rules": rules}, CATALOGUE)
    connection = loaded_duckdb(people)
    assert rule_audience(connection, rule, AS_OF) == evaluate(rule, people, [], AS_OF)


@pytest.mark.parametrize(
    ("condition", "selected"),
    [
        ({"field": "attr.loyalty_tier", "operator": "=", "value": "gold"}, {"gold", "gold_spaced"}),
        ({"field": "attr.loyalty_tier", "operator": "!=", "value": "Gold"}, {"silver"}),  # missing never matches
        ({"field": "attr.loyalty_tier", "operator": "is_empty"}, {"none", "blank"}),
        ({"field": "attr.rating", "operator": ">", "value": 4}, {"gold"}),
        ({"field": "attr.rating", "operator": "between", "value": [3.5, 4.5]}, {"gold", "silver"}),
        ({"field": "attr.app_user", "operator": "=", "value": False}, {"silver"}),
        ({"field": "attr.app_user", "operator": "=", "value": "yes"}, {"gold"}),
        ({"field": "attr.club_joined", "operator": "on", "value": "2024-02-29"}, {"gold"}),  # 02:00 IST = 29 Feb UTC
        ({"field": "attr.club_joined", "operator": "in_last_days", "value": 30}, {"gold", "silver"}),
        ({"field": "attr.preferred_stores", "operator": "contains", "value": "ANDHERI"}, {"gold"}),
        ({"field": "attr.preferred_stores", "operator": "is_empty"}, {"silver", "none", "blank", "gold_spaced"}),
    ],
)
def test_attribute_operators_follow_the_rule_contract(condition, selected):
    people = [
        {
            "customer_id": "gold",
            "attributes": {
                "loyalty_tier": "Gold",
                "rating": 4.5,
                "app_user": True,
                "club_joined": datetime(2024, 3, 1, 2, 0, tzinfo=IST),
                "preferred_stores": ["Andheri ", "Bandra"],
            },
        },
        {"customer_id": "gold_spaced", "attributes": {"loyalty_tier": "  GOLD "}},
        {
            "customer_id": "silver",
            "attributes": {
                "loyalty_tier": "Silver",
                "rating": 3.5,
                "app_user": False,
                "club_joined": datetime(2024, 2, 10, tzinfo=UTC),
                "preferred_stores": [],
            },
        },
        {"customer_id": "none", "attributes": None},
        {"customer_id": "blank", "attributes": {"loyalty_tier": None}},
    ]
    rule = parse_rule({"op": "and", "rules": [condition]}, CATALOGUE)
    assert rule_audience(loaded_duckdb(people), rule, AS_OF) == selected
    assert evaluate(rule, people, [], AS_OF) == selected


def test_rules_on_attributes_read_in_english():
    rule = {
        "op": "and",
        "rules": [
            {"field": "attr.loyalty_tier", "operator": "in", "value": ["Gold", "Platinum"]},
            {"field": "attr.rating", "operator": ">=", "value": 4.5},
            {"field": "attr.app_user", "operator": "=", "value": True},
            {"field": "attr.preferred_stores", "operator": "contains", "value": "Andheri"},
        ],
    }
    assert describe_rule(rule, CATALOGUE) == (
        "Customers whose loyalty tier is one of “Gold”, “Platinum” and whose rating is at least 4.5 "
        "and whose app user is yes and whose preferred stores include “Andheri”"
    )


def test_an_unregistered_attribute_is_named_with_how_to_register_it():
    rule = {"op": "and", "rules": [{"field": "attr.loyalty_tier", "operator": "=", "value": "Gold"}]}
    with pytest.raises(InvalidInput) as caught:
        parse_rule(rule)
    assert caught.value.location == "rules[0].field"
    assert "unknown attribute" in caught.value.message and "--attribute" in caught.value.message
    with pytest.raises(InvalidInput, match="contains_all"):
        parse_rule(
            {"op": "and", "rules": [{"field": "attr.rating", "operator": "contains_all", "value": [1]}]}, CATALOGUE
        )
    with pytest.raises(InvalidInput, match="yes or no"):
        parse_rule({"op": "and", "rules": [{"field": "attr.app_user", "operator": "=", "value": "maybe"}]}, CATALOGUE)


def test_a_parsed_rule_keeps_its_catalogue_when_parsed_again():
    rule = parse_rule({"op": "and", "rules": [{"field": "attr.rating", "operator": ">", "value": 4}]}, CATALOGUE)
    assert parse_rule(rule).to_json() == rule.to_json()


@pytest.mark.parametrize(
    ("heading", "key"),
    [("Loyalty Tier", "loyalty_tier"), ("  Preferred-Store ", "preferred_store"), ("2024 Spend", "a_2024_spend")],
)
def test_column_headings_make_attribute_keys(heading, key):
    assert key_for(heading) == key


@pytest.mark.parametrize("heading", ["City", "tags", "!!!"])
def test_headings_that_cannot_be_attributes_are_refused(heading):
    with pytest.raises(InvalidInput):
        key_for(heading)


def test_people_name_kinds_in_their_own_words():
    assert [kind_of(w) for w in ("Text", "boolean", "Yes/No", "tags", "integer")] == [
        "text",
        "yes/no",
        "yes/no",
        "list",
        "number",
    ]
    with pytest.raises(InvalidInput, match="text, number, date, yes/no, list"):
        kind_of("colour")


def test_decimals_read_exactly_in_english():
    rule = {"op": "and", "rules": [{"field": "attr.rating", "operator": "=", "value": 1234567.1234567}]}
    assert describe_rule(rule, CATALOGUE) == "Customers whose rating is exactly 12,34,567.1234567"
    tiny = {"op": "and", "rules": [{"field": "attr.rating", "operator": ">", "value": 0.0000001}]}
    assert describe_rule(tiny, CATALOGUE) == "Customers whose rating is more than 0.0000001"


@pytest.mark.parametrize(
    "stored", [{"loyalty_tier": 7, "app_user": "no", "club_joined": "2024-03-01", "rating": "4"}, "oops", None]
)
def test_values_of_another_type_read_as_missing_in_the_reference_as_in_the_copy(stored):
    people = [{"customer_id": "c1", "tags": [], "attributes": stored}]
    for name, kind in (
        ("attr.loyalty_tier", "="),
        ("attr.app_user", "="),
        ("attr.club_joined", "on"),
        ("attr.rating", "="),
    ):
        value = {"attr.loyalty_tier": "7", "attr.app_user": False, "attr.club_joined": "2024-03-01", "attr.rating": 4}[
            name
        ]
        rule = parse_rule({"op": "and", "rules": [{"field": name, "operator": kind, "value": value}]}, CATALOGUE)
        assert evaluate(rule, people, [], AS_OF) == set()
        empty = parse_rule({"op": "and", "rules": [{"field": name, "operator": "is_empty"}]}, CATALOGUE)
        assert evaluate(empty, people, [], AS_OF) == {"c1"}
