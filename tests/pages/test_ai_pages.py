""" "Describe your audience" on the Segments page (AppTest): a proposal shows its English, count,
changes and engine, and reaches the builder only when the user applies it."""

from __future__ import annotations

import json
import os

import pytest
from streamlit.testing.v1 import AppTest

from crm.analytics import analytic_copy
from crm.analytics.segment_preview import count
from crm.demo import DemoSpec
from crm.formats.indian_numbers import format_count
from crm.segment_engine import describe_rule
from tests.apptest_support import no_failures
from tests.auth_fixtures import sign_in
from tests.demo_copy import demo_data
from tests.fake_gemini import FakeGemini, error
from tests.support import ROOT

TEXT = "customers in Mumbai or Pune who spent more than ₹5,000"
PROPOSED = {
    "op": "and",
    "rules": [
        {"field": "city", "operator": "in", "value": ["Mumbai", "Pune"]},
        {"field": "total_spend", "operator": ">", "value": 5000},
    ],
}
CURRENT = {
    "op": "and",
    "rules": [
        {"field": "city", "operator": "in", "value": ["Mumbai", "Pune"]},
        {"field": "order_count", "operator": ">=", "value": 2},
    ],
}


@pytest.fixture
def demo_db(db, monkeypatch):
    for key in list(os.environ):
        if key.startswith(("GOOGLE_", "GEMINI_", "CRM_GEMINI_")):
            monkeypatch.delenv(key)
    analytic_copy.close_all()
    demo_data(db, DemoSpec(customers=300, orders=3_000, seed=3))
    yield db
    analytic_copy.close_all()


def segments_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    sign_in(at, "marketer")
    at.run()
    at.switch_page("app_pages/segments.py")
    return at.run()


def button(at: AppTest, label: str):
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r}; have {[b.label for b in at.button]}"
    return matches[0]


def ask(at: AppTest, text: str) -> AppTest:
    at.text_input(key="describe-text").input(text)
    button(at, "Propose a rule").click()
    return at.run()


def markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_a_proposal_shows_english_count_and_engine_and_is_not_applied(demo_db):
    at = ask(segments_page(), TEXT)
    no_failures(at)
    assert "Answered offline (the built-in parser)" in [c.value for c in at.caption]
    assert f"**Proposed:** {describe_rule(PROPOSED)}" in markdown(at)
    assert f"**{format_count(count(PROPOSED))}** customers" in markdown(at)
    assert not at.metric  # the builder is still empty: nothing was applied
    assert any("Add a condition" in i.value for i in at.info)


def test_applying_loads_the_rule_into_the_builder(demo_db):
    at = ask(segments_page(), TEXT)
    button(at, "Apply to the builder").click()
    at.run()
    no_failures(at)
    assert {m.label: m.value for m in at.metric}["Customers in this segment"] == format_count(count(PROPOSED))
    assert json.loads(at.code[0].value)["rules"] == PROPOSED["rules"]
    assert not [b for b in at.button if b.label == "Apply to the builder"]


def test_discarding_leaves_the_current_rule_and_the_proposal_shows_what_would_change(demo_db):
    at = segments_page()
    at.text_area(key="paste-text").input(json.dumps(CURRENT))
    button(at, "Load into the builder").click()
    at = ask(at.run(), TEXT)
    no_failures(at)
    shown = markdown(at)
    assert "adds: who spent more than ₹5,000" in shown
    assert "removes: who placed at least 2 orders" in shown
    assert f"the current rule finds {format_count(count(CURRENT))}" in shown
    button(at, "Discard").click()
    at.run()
    no_failures(at)
    assert json.loads(at.code[0].value)["rules"] == CURRENT["rules"]
    assert "**Proposed:**" not in markdown(at)


def test_words_not_understood_are_shown(demo_db):
    at = ask(segments_page(), "customers in Pune who love cricket")
    no_failures(at)
    assert any("did not understand: “love cricket”" in w.value for w in at.warning)


def test_gemini_failing_still_answers_offline_and_says_why(demo_db, monkeypatch):
    fake = FakeGemini(replies=[error(503, "UNAVAILABLE")]).start()
    try:
        monkeypatch.setenv("GEMINI_API_KEY", "test-key")
        monkeypatch.setenv("CRM_GEMINI_BASE_URL", fake.url)
        at = ask(segments_page(), TEXT)
    finally:
        fake.stop()
    no_failures(at)
    assert fake.seen, "Gemini was not asked"
    assert "Answered offline (the built-in parser)" in [c.value for c in at.caption]
    assert any("Gemini did not help" in w.value and "503" in w.value for w in at.warning)
    assert f"**Proposed:** {describe_rule(PROPOSED)}" in markdown(at)


def test_campaign_compose_offers_variants_that_become_the_message_boxes(demo_db):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    sign_in(at, "marketer")
    at.run()
    at.switch_page("app_pages/campaigns.py")
    at.run()
    at.radio(key="cmp_source").set_value("Rule JSON")
    at.text_input(key="cmp_objective").input("Win back customers idle for 3 months")
    at.run()
    at.button(key="variants-suggest").click()
    at.run()
    no_failures(at)
    assert "Answered offline (the built-in parser) · template kind: win-back" in [c.value for c in at.caption]
    offered = [c.value for c in at.code if "{{" in c.value]
    assert len(offered) == 3
    at.button(key="variant-use-all").click()
    at.run()
    no_failures(at)
    assert at.number_input(key="cmp_variants").value == 3
    assert [at.text_area(key=f"cmp_template_{i}").value for i in range(3)] == offered
