"""Property: any rule on any data selects the same customers through DuckDB as through the
plain-Python reference evaluator written from the contract."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.analytics.segment_preview import MAX_SAMPLE, compute_preview
from crm.formats.gender import GENDERS
from crm.segment_engine.catalogue import FIELDS, TYPES
from crm.segment_engine.codes import resolve_codes
from crm.segment_engine.compile_sql import top_level_predicates
from crm.segment_engine.explain import explain
from crm.segment_engine.model import NORMALISED_OPERATORS, parse_rule
from crm.segment_engine.operators import operators_for
from crm.segment_engine.reference import evaluate
from tests.support import loaded_duckdb, rule_audience

BASE = date(2024, 3, 1)
ZONES = [None, UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
# Characters on which Python's and DuckDB's lower() agree (checked below), plus whitespace.
ALPHABET = "abcXYZ éÉüÜ'-%_\t\nअ😀"
TEXTS = ["Mumbai", " mumbai ", "MUMBAI", "Navi Mumbai", "Pune", "pune\t", "Zoë", "O'Neil", "a%b", "mum"]
TAGS = ["vip", "VIP ", " Gold", "gold", "newsletter", "é"]
AMOUNTS = [0, 1, 50, 99, 100, 12345, 50000, 500050]

GENDER_WORDS = ["F", "female", " Woman ", "M", "male", "other", "O", "non-binary"]
texts = st.one_of(st.sampled_from(TEXTS), st.text(ALPHABET, max_size=6))
rule_texts = texts.filter(lambda s: s.strip())


@st.composite
def moments(draw, spread: int = 4) -> datetime:
    """Timestamps around the base day, often close to midnight, with assorted offsets."""
    day = BASE + timedelta(days=draw(st.integers(-spread, spread)))
    minute = draw(st.one_of(st.integers(0, 1439), st.sampled_from([0, 1, 329, 330, 331, 1439])))
    zone = draw(st.sampled_from(ZONES))
    return datetime.combine(day, time(minute // 60, minute % 60), zone)


@st.composite
def customers(draw) -> list[dict]:
    count = draw(st.integers(1, 8))
    return [
        dict(
            customer_id=f"c{i}",
            name=draw(st.none() | texts),
            email=draw(st.none() | texts),
            phone=draw(st.none() | texts),
            city=draw(st.none() | texts),
            gender=draw(st.none() | st.sampled_from(GENDERS) | texts),
            age=draw(st.none() | st.integers(-1, 22)),
            signup_date=draw(st.none() | moments()),
            tags=draw(st.none() | st.lists(st.none() | st.sampled_from(TAGS + ["", "  "]), max_size=4)),
        )
        for i in range(count)
    ]


@st.composite
def orders(draw, ids: list[str]) -> list[dict]:
    count = draw(st.integers(0, 20))
    owners = st.sampled_from(ids + ["ghost"])
    return [
        dict(
            order_id=f"o{i}",
            customer_id=draw(owners),
            amount=draw(st.sampled_from(AMOUNTS) | st.integers(0, 10**6)),
            status=draw(st.sampled_from(["completed", "completed", "cancelled", "refunded"])),
            order_date=draw(moments()),
        )
        for i in range(count)
    ]


def element_values(element: str):
    if element == "money":
        return st.one_of(st.sampled_from(AMOUNTS), st.integers(-100, 10**6)).map(lambda p: p / 100)
    if element == "integer":
        return st.integers(-3, 8) | st.integers(-1, 22)
    if element == "date":
        return st.integers(-6, 6).map(lambda d: (BASE + timedelta(days=d)).isoformat()) | moments().map(
            lambda m: m.isoformat()
        )
    return st.sampled_from(TAGS) | rule_texts


@st.composite
def conditions(draw) -> dict:
    field = draw(st.sampled_from(list(FIELDS.values())))
    operator = draw(st.sampled_from(operators_for(field.type)))
    values = element_values(TYPES[field.type].element)
    if field.normalise is not None and operator.key in NORMALISED_OPERATORS:
        values = st.sampled_from(GENDER_WORDS)  # a rule's gender is one the table reads
    cond = {"field": field.name, "operator": operator.key}
    if operator.shape == "one":
        cond["value"] = draw(values)
    elif operator.shape == "pair":
        a, b = draw(values), draw(values)
        key = (lambda v: v[:10]) if TYPES[field.type].element == "date" else (lambda v: v)
        cond["value"] = sorted([a, b], key=key)
        if key(cond["value"][0]) == key(cond["value"][1]):
            cond["value"] = [cond["value"][0]] * 2
    elif operator.shape == "many":
        cond["value"] = draw(st.lists(values, min_size=1, max_size=3))
    elif operator.shape == "days":
        cond["value"] = draw(st.integers(0, 7))
    if field.windowable and draw(st.booleans()):
        cond["within_days"] = draw(st.integers(1, 7))
    return cond


def groups(depth: int):
    members = conditions() if depth == 0 else st.one_of(conditions(), groups(depth - 1))
    return st.builds(
        lambda op, negate, rules: {"op": op, "not": negate, "rules": rules},
        st.sampled_from(["and", "or"]),
        st.booleans(),
        st.lists(members, min_size=1, max_size=3),
    )


def conditions_in(rule: dict):
    for item in rule["rules"]:
        yield from conditions_in(item) if "rules" in item else [item]


def per_condition(con, leaves: list[dict], as_of: date) -> list[tuple]:
    """One row per customer: its id, then whether each condition alone selects it (city and
    gender tests in their integer-code form; the whole rule checks both forms)."""
    rule = parse_rule({"op": "and", "rules": leaves})
    top = top_level_predicates(rule, as_of, resolve_codes(con, rule))
    columns = ", ".join(f"({p.sql})" for p in top.predicates)
    joins = " ".join(j.sql for j in top.joins)
    params = [v for p in top.predicates for v in p.params] + [v for j in top.joins for v in j.params]
    return con.execute(f"SELECT f.customer_id, {columns} FROM customer_features AS f {joins}", params).fetchall()


def load(people: list[dict], sales: list[dict], incremental: bool) -> duckdb.DuckDBPyConnection:
    return loaded_duckdb(people, sales, [p["customer_id"] for p in people] if incremental else None)


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), rule=groups(2), as_of=st.sampled_from([BASE, BASE + timedelta(days=2)]))
def test_duckdb_and_reference_select_the_same_customers(data, rule, as_of):
    people = data.draw(customers())
    sales = data.draw(orders([p["customer_id"] for p in people]))
    con = load(people, sales, incremental=data.draw(st.booleans()))
    try:
        from_sql = rule_audience(con, rule, as_of)
        assert from_sql == evaluate(rule, people, sales, as_of)
        waterfall_sql, waterfall_params = top_level_predicates(rule, as_of).waterfall_query()
        assert con.execute(waterfall_sql, waterfall_params).fetchone()[-1] == len(from_sql)
        # The preview's own queries (CASE WHEN patterns, the sample's WHERE) agree too.
        preview = compute_preview(con, parse_rule(rule), as_of, sample=MAX_SAMPLE)
        assert preview.count == len(from_sql)
        assert {row["customer_id"] for row in preview.sample} <= from_sql
        assert len(preview.sample) == min(len(from_sql), MAX_SAMPLE)
        for step, top_rule in zip(preview.waterfall, rule["rules"]):
            alone = {"op": rule["op"], "rules": [top_rule]}
            assert step.alone == len(evaluate(alone, people, sales, as_of)), top_rule
        # Every condition on its own too, so a wrong leaf cannot hide inside a larger rule.
        leaves = list(conditions_in(rule))
        flags = per_condition(con, leaves, as_of)
        for i, leaf in enumerate(leaves):
            alone = {"op": "and", "rules": [leaf]}
            assert {cid for cid, *hits in flags if hits[i]} == evaluate(alone, people, sales, as_of), leaf
    finally:
        con.close()


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), rule=groups(2), as_of=st.sampled_from([BASE, BASE + timedelta(days=2)]))
def test_why_in_or_out_gives_the_engines_verdict_for_every_customer(data, rule, as_of):
    """The explanation a customer's page shows says in or out exactly when the SQL engine does,
    and each group's result follows from its members' as the engine combines them."""
    people = data.draw(customers())
    sales = data.draw(orders([p["customer_id"] for p in people]))
    con = load(people, sales, incremental=False)
    try:
        selected = rule_audience(con, rule, as_of)
    finally:
        con.close()
    for person in people:
        theirs = [sale for sale in sales if sale["customer_id"] == person["customer_id"]]
        explained = explain(rule, person, theirs, as_of)
        assert explained.selected == (person["customer_id"] in selected), person["customer_id"]
        assert explained.rule.held == explained.selected
        assert_groups_combine(explained.rule)


def assert_groups_combine(step) -> None:
    if not step.steps:
        return
    members = [s.held for s in step.steps]
    combined = all(members) if step.text.endswith("all of") else any(members)
    assert step.held == (not combined if step.text.startswith("not") else combined), step.text
    for member in step.steps:
        assert_groups_combine(member)


def test_the_property_alphabet_lowercases_alike_in_python_and_duckdb():
    con = duckdb.connect()
    for text in [ALPHABET, *TEXTS, *TAGS]:
        assert con.execute("SELECT lower(?)", [text]).fetchone()[0] == text.lower()
