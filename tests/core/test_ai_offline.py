"""The offline sentence -> rule parser, message templates, the evaluation set and the commands."""

from __future__ import annotations

import json
from datetime import date

import pytest

from crm.ai.facts import DataFacts
from crm.ai.nl_rules import OFFLINE, propose_rule, rule_from_offline
from crm.ai.offline_parser import parse_text
from crm.ai.variants import KINDS, message_variants, offline_variants
from crm.bench.nl_eval import audience, eval_dataset, evaluate, load_cases
from crm.campaigns.templating import compile_template
from crm.errors import InvalidInput

TODAY = date(2025, 6, 30)
FACTS = DataFacts(
    cities=("Mumbai", "Pune", "Delhi", "Bengaluru", "Kolkata"),
    tags=("vip", "newsletter", "app_user"),
    genders=("female", "male"),
)
# Accuracy reached on the committed evaluation set; a change that lowers it fails.
ACCURACY_FLOOR = 0.99


def rules_of(text: str) -> list[dict]:
    return parse_text(text, TODAY, FACTS).rule.to_json()["rules"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("spent more than ₹5,000", [{"field": "total_spend", "operator": ">", "value": 5000}]),
        ("spent over Rs. 5k", [{"field": "total_spend", "operator": ">", "value": 5000}]),
        ("spent at least INR 1.5 lakh", [{"field": "total_spend", "operator": ">=", "value": 150000}]),
        ("spent under 2 crore", [{"field": "total_spend", "operator": "<", "value": 20000000}]),
        ("spent between 2k and 10k", [{"field": "total_spend", "operator": "between", "value": [2000, 10000]}]),
        ("spent 2-3 lakh", [{"field": "total_spend", "operator": "between", "value": [200000, 300000]}]),
        ("purchases worth 40,000/- or more", [{"field": "total_spend", "operator": ">=", "value": 40000}]),
        ("spent more than fifty thousand", [{"field": "total_spend", "operator": ">", "value": 50000}]),
        ("average order value below 800", [{"field": "avg_order_value", "operator": "<", "value": 800}]),
        (
            "spent over 10k in the last 6 months",
            [{"field": "total_spend", "operator": ">", "value": 10000, "within_days": 180}],
        ),
        (
            "at least 3 orders in the past 2 weeks",
            [{"field": "order_count", "operator": ">=", "value": 3, "within_days": 14}],
        ),
        ("inactive for 3 months", [{"field": "days_since_last_order", "operator": ">", "value": 90}]),
        ("hasn't ordered since 2 weeks", [{"field": "days_since_last_order", "operator": ">", "value": 14}]),
        ("no orders in the last 45 days", [{"field": "days_since_last_order", "operator": ">", "value": 45}]),
        ("hasn't ordered since March", [{"field": "last_order_date", "operator": "before", "value": "2025-03-01"}]),
        ("ordered in the last 7 days", [{"field": "last_order_date", "operator": "in_last_days", "value": 7}]),
        ("never ordered", [{"field": "order_count", "operator": "=", "value": 0}]),
        ("signed up more than a year ago", [{"field": "signup_date", "operator": "not_in_last_days", "value": 365}]),
        ("joined in 2024", [{"field": "signup_date", "operator": "between", "value": ["2024-01-01", "2024-12-31"]}]),
        (
            "women aged 25-35",
            [
                {"field": "gender", "operator": "=", "value": "female"},
                {"field": "age", "operator": "between", "value": [25, 35]},
            ],
        ),
        (
            "men in their 40s",
            [
                {"field": "gender", "operator": "=", "value": "male"},
                {"field": "age", "operator": "between", "value": [40, 49]},
            ],
        ),
        ("in Mumbai or Pune", [{"field": "city", "operator": "in", "value": ["Mumbai", "Pune"]}]),
        ("not in Delhi or Mumbai", [{"field": "city", "operator": "not_in", "value": ["Delhi", "Mumbai"]}]),
        ("from Bangalore", [{"field": "city", "operator": "=", "value": "Bengaluru"}]),
        ("vip or newsletter", [{"field": "tags", "operator": "contains_any", "value": ["vip", "newsletter"]}]),
        (
            "non-vip app users",
            [
                {"field": "tags", "operator": "not_contains", "value": "vip"},
                {"field": "tags", "operator": "contains", "value": "app_user"},
            ],
        ),
    ],
)
def test_phrase_becomes_rule(text, expected):
    assert rules_of(text) == expected


def test_or_binds_looser_than_and():
    rule = parse_text("spent over 5000 and in Pune or never ordered", TODAY, FACTS).rule.to_json()
    assert rule["op"] == "or"
    assert rule["rules"][0]["op"] == "and" and len(rule["rules"][0]["rules"]) == 2
    assert rule["rules"][1] == {"field": "order_count", "operator": "=", "value": 0}


def test_typos_and_city_aliases_are_read_and_reported():
    reading = parse_text("custmers from banglore who spnt over 1 lakh", TODAY, FACTS)
    assert reading.rule.to_json()["rules"] == [
        {"field": "city", "operator": "=", "value": "Bengaluru"},
        {"field": "total_spend", "operator": ">", "value": 100000},
    ]
    assert any("spnt" in r for r in reading.readings) and any("Bengaluru" in r for r in reading.readings)


def test_words_it_cannot_place_are_reported_not_guessed():
    reading = parse_text("male customers over 5000 who love cricket", TODAY, FACTS)
    assert reading.rule.to_json()["rules"] == [{"field": "gender", "operator": "=", "value": "male"}]
    assert reading.not_understood == ("over 5000", "love cricket")


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "male customers over 45",
            [{"field": "gender", "operator": "=", "value": "male"}, {"field": "age", "operator": ">", "value": 45}],
        ),
        ("youngsters under 21", [{"field": "age", "operator": "<", "value": 21}]),
        (
            "women younger than 30",
            [{"field": "gender", "operator": "=", "value": "female"}, {"field": "age", "operator": "<", "value": 30}],
        ),
        ("customers over 45 orders", [{"field": "order_count", "operator": ">", "value": 45}]),
        ("customers over 45 days inactive", [{"field": "days_since_last_order", "operator": ">", "value": 45}]),
    ],
)
def test_a_bare_number_after_people_is_an_age_and_says_so(text, expected):
    reading = parse_text(text, TODAY, FACTS)
    assert reading.rule.to_json()["rules"] == expected and not reading.not_understood
    assert any("as an age" in r for r in reading.readings) == any(c["field"] == "age" for c in expected)


def test_signed_up_this_year_or_month_is_the_calendar_period_so_far():
    assert rules_of("signed up this year") == [
        {"field": "signup_date", "operator": "between", "value": ["2025-01-01", "2025-06-30"]}
    ]
    assert rules_of("joined this month") == [
        {"field": "signup_date", "operator": "between", "value": ["2025-06-01", "2025-06-30"]}
    ]


def test_a_city_not_in_the_data_is_not_invented():
    reading = parse_text("customers in Timbuktu", TODAY, FACTS)
    assert reading.rule is None and reading.not_understood == ("timbuktu",)


def test_inactive_without_a_duration_is_not_understood():
    reading = parse_text("inactive customers in Pune", TODAY, FACTS)
    assert reading.rule.to_json()["rules"] == [{"field": "city", "operator": "=", "value": "Pune"}]
    assert reading.not_understood == ("inactive",)


@pytest.mark.parametrize("text", ["", "   ", "x" * 1001])
def test_empty_or_huge_text_is_invalid_input(text):
    with pytest.raises(InvalidInput) as info:
        parse_text(text, TODAY, FACTS)
    assert info.value.location == "text"


def test_without_a_key_the_offline_engine_answers_and_says_so(monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    proposal = propose_rule("vip customers in Pune", TODAY, FACTS)
    assert proposal.engine == OFFLINE and proposal.rule is not None


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_offline_template_compiles_and_fits_one_sms(kind):
    for _tone, text in KINDS[kind][1]:
        compile_template(text)
    result = offline_variants(KINDS[kind][1][0][1] if kind == "promotion" else kind.replace("-", " "))
    assert result.engine == OFFLINE and result.kind == kind
    assert [v.sms_segments for v in result.variants] == [1, 1, 1]
    assert all(v.encoding == "GSM-7" for v in result.variants)


@pytest.mark.parametrize(
    "objective, kind",
    [
        ("win back inactive users", "win-back"),
        ("Welcome new signups", "welcome"),
        ("Diwali sale", "festive"),
        ("upsell premium range", "upsell"),
        ("thank our loyal buyers", "loyalty"),
        ("remind people about the app", "re-engage"),
        ("monsoon offer", "promotion"),
    ],
)
def test_objective_picks_its_template_kind(objective, kind, monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    assert message_variants(objective).kind == kind


def test_empty_objective_is_invalid_input():
    with pytest.raises(InvalidInput, match="objective"):
        message_variants("  ", use_gemini=False)


# --- the evaluation set -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset():
    return eval_dataset()


def test_evaluation_set_is_large_and_every_expected_audience_is_telling(dataset):
    cases = load_cases()
    assert len(cases) >= 80
    total = dataset.execute("SELECT count(*) FROM customer_features").fetchone()[0]
    for case in cases:
        size = len(audience(dataset, case.expected))
        assert 0 < size < total, f"line {case.line}: {case.text!r} selects {size} of {total}"


def test_offline_accuracy_on_the_evaluation_set_does_not_regress(dataset):
    report = evaluate(load_cases(), rule_from_offline, dataset)
    assert report["accuracy"] >= ACCURACY_FLOOR, json.dumps(report["wrong"], ensure_ascii=False, indent=1)


def test_a_wrong_rule_scores_wrong(dataset):
    from crm.ai.nl_rules import Proposal
    from crm.segment_engine import parse_rule

    everyone = parse_rule({"op": "and", "rules": [{"field": "order_count", "operator": ">=", "value": 0}]})
    report = evaluate(load_cases()[:5], lambda text, today, facts: Proposal(everyone, "test"), dataset)
    assert report["correct"] == 0


# --- commands ---------------------------------------------------------------------------------


def test_from_text_command_prints_the_rule_and_names_the_engine(run_cli):
    result = run_cli("segment", "from-text", "spent over ₹5k in the last 30 days", "--as-of", "2025-06-30", check=True)
    assert json.loads(result.stdout) == {
        "op": "and",
        "not": False,
        "rules": [{"field": "total_spend", "operator": ">", "value": 5000, "within_days": 30}],
    }
    assert "engine: offline" in result.stderr


def test_from_text_command_with_nothing_understood_fails_in_one_line(run_cli):
    result = run_cli("segment", "from-text", "people who like cricket")
    assert result.returncode == 2
    assert "did not understand" in result.stderr and "error: text:" in result.stderr
    assert "Traceback" not in result.stderr


def test_bench_nl_prints_offline_accuracy(run_cli):
    result = run_cli("bench", "nl", "--offline-only", check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["bench"] == "nl" and report["cases"] >= 80
    assert report["offline"]["accuracy"] >= ACCURACY_FLOOR
