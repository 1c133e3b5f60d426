"""Rules that cannot be valid — a lone surrogate in a text value, groups nested thousands deep —
are refused as rule errors naming the place, through every way a rule comes in: the engine, the
command line, the builder (tree and pasted JSON), saved segments and Gemini's answers."""

from __future__ import annotations

import json
from datetime import date

import pytest

from crm.ai.client import GeminiClient
from crm.ai.facts import DataFacts
from crm.ai.nl_rules import OFFLINE, propose_rule
from crm.auth import CLI
from crm.errors import InvalidInput
from crm.segment_builder.reading import read_json, read_tree
from crm.segment_engine import compile_rule, parse_rule
from crm.segment_engine.model import MAX_DEPTH
from crm.segments import create_segment
from tests.fake_gemini import FakeGemini, answer
from tests.support import loaded_duckdb, rule_audience

AS_OF = date(2025, 6, 30)
DEEP = 5_000
CONDITION = '{"field": "city", "operator": "=", "value": "Pune"}'
DEEP_JSON = '{"op": "and", "rules": [' * DEEP + CONDITION + "]}" * DEEP


def surrogate_rule(operator: str = "=", value=None, field: str = "city") -> dict:
    return {
        "op": "and",
        "rules": [{"field": field, "operator": operator, "value": "\ud800" if value is None else value}],
    }


def deep_tree(levels: int) -> dict:
    node = {
        "type": "rule",
        "properties": {
            "field": "city",
            "operator": "=",
            "value": ["Pune"],
            "valueSrc": ["value"],
            "valueType": ["text"],
        },
    }
    for _ in range(levels):
        node = {"type": "group", "properties": {"conjunction": "AND", "not": False}, "children": [node]}
    return node


def assert_printable(message: str) -> None:
    message.encode("utf-8")  # an error a terminal or a JSON body can carry


@pytest.mark.parametrize(
    "rule, location",
    [
        (surrogate_rule("="), "rules[0].value"),
        (surrogate_rule("in", ["Pune", "a\udfffb"]), "rules[0].value[1]"),
        (surrogate_rule("contains", "x\ud83d"), "rules[0].value"),
        (surrogate_rule("contains", "\udc00", field="tags"), "rules[0].value"),
        (surrogate_rule("between", ["\ud800", "2024-01-01"], field="signup_date"), "rules[0].value[0]"),
    ],
)
def test_a_lone_surrogate_in_a_value_is_a_rule_error_naming_the_value(rule, location):
    with pytest.raises(InvalidInput) as caught:
        parse_rule(rule)
    assert caught.value.location == location
    assert_printable(caught.value.message)


def test_a_lone_surrogate_in_a_field_or_key_gives_an_error_that_can_be_printed():
    for rule in (
        {"op": "and", "rules": [{"field": "ci\ud800ty", "operator": "is_empty"}]},
        {"op": "and", "rules": [{"field": "city", "operator": "is_empty", "\ud800": 1}]},
        {"op": "\ud800", "rules": [{"field": "city", "operator": "is_empty"}]},
    ):
        with pytest.raises(InvalidInput) as caught:
            parse_rule(rule)
        assert_printable(caught.value.message)
        assert "\\ud800" in caught.value.message


def test_a_whole_character_from_a_surrogate_pair_still_selects_its_customers():
    con = loaded_duckdb([{"customer_id": "c1", "city": "Zoë😀"}, {"customer_id": "c2", "city": "Pune"}], [])
    try:
        paired = parse_rule(
            '{"op": "and", "rules": [{"field": "city", "operator": "=", "value": "zo\\u00eb\\ud83d\\ude00"}]}'
        )
        assert rule_audience(con, paired, AS_OF) == {"c1"}
        with pytest.raises(InvalidInput, match="lone surrogate"):
            compile_rule(surrogate_rule(), AS_OF)
    finally:
        con.close()


def test_json_nested_thousands_deep_is_refused_as_too_deep():
    with pytest.raises(InvalidInput, match=f"at most {MAX_DEPTH} levels"):
        parse_rule(DEEP_JSON)


def test_command_line_refuses_a_deep_rule_file_in_one_line(cli, tmp_path):
    path = tmp_path / "deep.json"
    path.write_text(DEEP_JSON)
    result = cli("segment", "count", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == f"error: {path}: groups nest too deep (at most {MAX_DEPTH} levels)"


def test_command_line_refuses_a_lone_surrogate_naming_the_value(cli, tmp_path):
    path = tmp_path / "surrogate.json"
    path.write_text(json.dumps(surrogate_rule("in", ["Pune", "\ud800"])))  # ASCII JSON: "\ud800"
    result = cli("segment", "count", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "duckdb" not in result.stderr.lower()
    assert f"{path}: rules[0].value[1]: text has a lone surrogate \\ud800" in result.stderr


def test_builder_tree_nested_past_the_limit_says_what_to_fix():
    assert read_tree(deep_tree(MAX_DEPTH)).rule is not None  # as deep as the builder lets you go
    for levels in (MAX_DEPTH + 1, DEEP):
        reading = read_tree(deep_tree(levels))
        assert reading.rule is None
        assert "nest too deep" in reading.problem


def test_builder_pasted_json_nested_thousands_deep_is_a_clear_error():
    with pytest.raises(InvalidInput) as caught:
        read_json(DEEP_JSON)
    assert caught.value.location == "rule JSON"
    assert "nest too deep" in caught.value.message


def test_builder_pasted_lone_surrogate_names_the_condition():
    with pytest.raises(InvalidInput) as caught:
        read_json(json.dumps(surrogate_rule()))
    assert caught.value.message.startswith("Condition 1 (City): text has a lone surrogate")


def test_saved_segment_with_a_lone_surrogate_is_refused_and_nothing_is_stored(db):
    with pytest.raises(InvalidInput) as caught:
        create_segment(db, "Broken", surrogate_rule(), by=CLI)
    assert caught.value.location == "rules[0].value"
    assert db.segments.count_documents({}) == 0


@pytest.mark.parametrize(
    "name, description, location",
    [
        ("Big\ud800 spenders", None, "name"),
        ("Big spenders", "for \udfffthe sale", "description"),
    ],
)
def test_saved_segment_name_or_description_with_a_lone_surrogate_is_refused(db, name, description, location):
    rule = {"op": "and", "rules": [{"field": "city", "operator": "=", "value": "Pune"}]}
    with pytest.raises(InvalidInput) as caught:
        create_segment(db, name, rule, description=description, by=CLI)
    assert caught.value.location == location and "lone surrogate" in caught.value.message
    assert db.segments.count_documents({}) == 0


@pytest.fixture
def gemini():
    server = FakeGemini().start()
    yield server
    server.stop()


@pytest.mark.parametrize(
    "reply, note",
    [
        (DEEP_JSON, "nest too deep"),
        (json.dumps(surrogate_rule()), "lone surrogate"),
    ],
)
def test_gemini_answering_an_impossible_rule_falls_back_offline_and_says_why(gemini, reply, note):
    gemini.replies = [answer(reply)]
    client = GeminiClient(
        "test-key", "gemini-test-model", timeout_ms=5_000, attempts=1, base_url=gemini.url, retry_delay=0.01
    )
    proposal = propose_rule("customers in Pune", AS_OF, DataFacts(cities=("Pune",), tags=(), genders=()), client=client)
    assert proposal.engine == OFFLINE
    assert note in proposal.notes[0]
    assert proposal.rule is not None and proposal.rule.rules[0].field == "city"
