"""Gemini through the real google-genai client against a local fake server: what is sent, and how
quota, server errors, timeouts, malformed answers and invalid rules are handled."""

from __future__ import annotations

import json
import os
import socket
from datetime import date

import pytest

from crm.ai.client import GeminiBadAnswer, GeminiClient, GeminiUnavailable, gemini_client
from crm.ai.facts import DataFacts
from crm.ai.nl_rules import OFFLINE, propose_rule, rule_from_gemini
from crm.ai.variants import message_variants
from crm.segment_engine import rule_json_schema
from tests.fake_gemini import FakeGemini, Reply, answer, error

TODAY = date(2025, 6, 30)
FACTS = DataFacts(cities=("Mumbai", "Pune", "Visakhapatnam"), tags=("vip", "app_user"), genders=("female", "male"))
GOOD = {
    "op": "and",
    "rules": [
        {"field": "total_spend", "operator": ">", "value": 5000},
        {"field": "days_since_last_order", "operator": ">", "value": 90},
    ],
}
TEXT = "people who spent more than ₹5,000 and have been inactive for 3 months"


@pytest.fixture(autouse=True)
def no_google_environment(monkeypatch):
    """A stray GOOGLE_*/GEMINI_* variable would change where and how the SDK sends."""
    for key in list(os.environ):
        if key.startswith(("GOOGLE_", "GEMINI_", "CRM_GEMINI_")):
            monkeypatch.delenv(key)


@pytest.fixture
def fake():
    server = FakeGemini().start()
    yield server
    server.stop()


def client_for(fake: FakeGemini, attempts: int = 1, timeout_ms: int = 5_000) -> GeminiClient:
    return GeminiClient(
        "test-key", "gemini-test-model", timeout_ms=timeout_ms, attempts=attempts, base_url=fake.url, retry_delay=0.01
    )


def test_request_carries_model_key_schema_and_prompt_with_date_currency_cities_and_tags(fake):
    fake.replies = [answer(GOOD)]
    rule_from_gemini(client_for(fake), TEXT, TODAY, FACTS)
    (request,) = fake.seen
    assert request.path == "/v1beta/models/gemini-test-model:generateContent"
    assert request.headers["x-goog-api-key"] == "test-key"
    config = request.body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == rule_json_schema()
    assert config["temperature"] == 0
    system = request.body["systemInstruction"]["parts"][0]["text"]
    assert "Today is 2025-06-30" in system
    assert "₹" in system and "rupee" in system
    assert "Cities in the data: Mumbai, Pune, Visakhapatnam" in system
    assert "Tags in the data: vip, app_user" in system
    assert "days_since_last_order" in system  # the catalogue from prompt_facts()
    assert request.body["contents"] == [{"role": "user", "parts": [{"text": TEXT}]}]


def test_valid_answer_is_the_proposal_and_names_the_model(fake):
    fake.replies = [answer(GOOD)]
    proposal = propose_rule(TEXT, TODAY, FACTS, client=client_for(fake))
    assert proposal.engine == "gemini-test-model"
    assert proposal.rule.to_json()["rules"] == GOOD["rules"]


def test_invalid_rule_gets_one_repair_round_with_the_validation_error(fake):
    bad = {"op": "and", "rules": [{"field": "spend", "operator": ">", "value": 5000}]}
    fake.replies = [answer(bad), answer(GOOD)]
    rule = rule_from_gemini(client_for(fake), TEXT, TODAY, FACTS)
    assert rule.to_json()["rules"] == GOOD["rules"]
    assert len(fake.seen) == 2
    turns = fake.seen[1].body["contents"]
    assert [t["role"] for t in turns] == ["user", "model", "user"]
    assert json.loads(turns[1]["parts"][0]["text"]) == bad
    assert "rules[0].field" in turns[2]["parts"][0]["text"] and "unknown field" in turns[2]["parts"][0]["text"]


def test_rule_invalid_after_the_repair_round_is_a_clear_failure_then_offline_answers(fake):
    bad = {"op": "and", "rules": []}
    fake.replies = [answer(bad), answer(bad)]
    with pytest.raises(GeminiBadAnswer, match="invalid twice.*empty group"):
        rule_from_gemini(client_for(fake), TEXT, TODAY, FACTS)
    assert len(fake.seen) == 2
    proposal = propose_rule(TEXT, TODAY, FACTS, client=client_for(fake))
    assert proposal.engine == OFFLINE
    assert proposal.notes[0].startswith("Gemini did not help: Gemini's rule was invalid twice")
    assert proposal.rule.to_json()["rules"] == GOOD["rules"]  # the offline parser's reading


def test_429_is_retried_and_a_later_answer_is_used(fake):
    fake.replies = [error(429, "RESOURCE_EXHAUSTED"), answer(GOOD)]
    proposal = propose_rule(TEXT, TODAY, FACTS, client=client_for(fake, attempts=3))
    assert proposal.engine == "gemini-test-model"
    assert len(fake.seen) == 2


def test_429_on_every_attempt_falls_back_offline_and_says_quota(fake):
    fake.replies = [error(429, "RESOURCE_EXHAUSTED")]
    with pytest.raises(GeminiUnavailable, match="quota"):
        rule_from_gemini(client_for(fake, attempts=2), TEXT, TODAY, FACTS)
    assert len(fake.seen) == 2
    proposal = propose_rule(TEXT, TODAY, FACTS, client=client_for(fake, attempts=2))
    assert proposal.engine == OFFLINE and "429" in proposal.notes[0]


def test_500_is_retried_and_then_reported_as_a_server_error(fake):
    fake.replies = [error(500, "INTERNAL"), error(503, "UNAVAILABLE")]
    with pytest.raises(GeminiUnavailable, match="server error \\(503"):
        rule_from_gemini(client_for(fake, attempts=3), TEXT, TODAY, FACTS)
    assert len(fake.seen) == 3


def test_400_is_not_retried(fake):
    fake.replies = [error(400, "INVALID_ARGUMENT", "schema not supported")]
    with pytest.raises(GeminiUnavailable, match="request refused.*schema not supported"):
        rule_from_gemini(client_for(fake, attempts=3), TEXT, TODAY, FACTS)
    assert len(fake.seen) == 1


def test_timeout_is_our_error_and_offline_answers(fake):
    fake.replies = [Reply(hang=True)]
    with pytest.raises(GeminiUnavailable, match="did not answer in time"):
        rule_from_gemini(client_for(fake, timeout_ms=300), TEXT, TODAY, FACTS)
    proposal = propose_rule(TEXT, TODAY, FACTS, client=client_for(fake, timeout_ms=300))
    assert proposal.engine == OFFLINE and "in time" in proposal.notes[0]


@pytest.mark.parametrize("text", ['```json\n{"op": "and"', "Sure! Here is your rule.", ""])
def test_malformed_json_answer_is_a_bad_answer(fake, text):
    fake.replies = [answer(text)]
    with pytest.raises(GeminiBadAnswer):
        rule_from_gemini(client_for(fake), TEXT, TODAY, FACTS)


def test_a_body_that_is_not_json_is_a_bad_answer(fake):
    fake.replies = [Reply(200, b"<html>proxy error</html>")]
    with pytest.raises(GeminiBadAnswer, match="not readable"):
        rule_from_gemini(client_for(fake), TEXT, TODAY, FACTS)


def test_unreachable_server_is_unavailable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: nobody listens
    client = GeminiClient("k", "m", timeout_ms=2_000, attempts=1, base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(GeminiUnavailable, match="cannot reach Gemini"):
        rule_from_gemini(client, TEXT, TODAY, FACTS)


def test_settings_give_key_model_and_endpoint(fake, monkeypatch):
    assert gemini_client() is None  # no key: the offline engine answers
    monkeypatch.setenv("GEMINI_API_KEY", "key-from-env")
    monkeypatch.setenv("CRM_GEMINI_MODEL", "gemini-from-settings")
    monkeypatch.setenv("CRM_GEMINI_BASE_URL", fake.url)
    fake.replies = [answer(GOOD)]
    proposal = propose_rule(TEXT, TODAY, FACTS)
    assert proposal.engine == "gemini-from-settings"
    assert fake.seen[0].headers["x-goog-api-key"] == "key-from-env"
    assert "gemini-from-settings:generateContent" in fake.seen[0].path


def test_gemini_variants_are_checked_and_a_bad_placeholder_is_dropped(fake):
    fake.replies = [
        answer(
            {
                "variants": [
                    {"tone": "Warm", "text": 'Hi {{ first_name | default("there") }}, we miss you! 15% off this week.'},
                    {"tone": "Urgent", "text": '{{ first_name | default("Hi") }}, 48 hours left for 15% off!'},
                    {"tone": "Odd", "text": "Hi {{ favourite_colour }}!"},
                ]
            }
        )
    ]
    result = message_variants(
        "win back inactive users",
        "Customers whose last order was more than 90 days ago",
        "sms",
        client=client_for(fake),
    )
    assert result.engine == "gemini-test-model"
    assert [v.tone for v in result.variants] == ["Warm", "Urgent"]
    assert "favourite_colour" in result.notes[0]
    assert all(v.sms_segments == 1 for v in result.variants)
    sent = fake.seen[0].body
    assert "first_name" in sent["systemInstruction"]["parts"][0]["text"]
    assert "win back inactive users" in sent["contents"][0]["parts"][0]["text"]


def test_variants_fall_back_to_the_offline_library_when_gemini_fails(fake):
    fake.replies = [error(503, "UNAVAILABLE")]
    result = message_variants("Diwali offer for loyal buyers", "", "sms", client=client_for(fake))
    assert result.engine == OFFLINE and result.kind == "festive"
    assert len(result.variants) == 3 and "503" in result.notes[0]


def test_from_text_command_uses_gemini_from_the_settings(fake, cli, monkeypatch):
    fake.replies = [answer(GOOD)]
    monkeypatch.setenv("GEMINI_API_KEY", "cli-key")
    monkeypatch.setenv("CRM_GEMINI_MODEL", "gemini-cli-model")
    monkeypatch.setenv("CRM_GEMINI_BASE_URL", fake.url)
    result = cli("segment", "from-text", TEXT, "--as-of", "2025-06-30", check=True)
    assert json.loads(result.stdout)["rules"] == GOOD["rules"]
    assert "engine: gemini-cli-model" in result.stderr
    assert "Today is 2025-06-30" in fake.seen[0].body["systemInstruction"]["parts"][0]["text"]
    assert fake.seen[0].headers["x-goog-api-key"] == "cli-key"
