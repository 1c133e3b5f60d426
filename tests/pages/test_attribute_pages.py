"""Custom attributes on the pages: kept from a column on the Data page with a type, then offered
by the rule builder, counted on the Segments page and known to the AI's prompt."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from crm.ai.facts import data_facts
from crm.ai.nl_rules import system_prompt
from crm.analytics import analytic_copy
from crm.auth import CLI
from crm.ingest.attribute_registry import register_attribute, registered
from crm.segment_builder import builder_config, rule_to_tree
from crm.segment_builder.choices import value_choices
from crm.segment_builder.reading import read_tree
from tests.apptest_support import no_failures
from tests.auth_fixtures import sign_in
from tests.support import ROOT

RUN_SECONDS = 120
FILE = "customer_id,name,Loyalty Tier,App User\nL1,Asha,Gold,yes\nL2,Ravi,Silver,no\nL3,Meena,gold,\n"
GOLD = {"op": "and", "rules": [{"field": "attr.loyalty_tier", "operator": "=", "value": "Gold"}]}


@pytest.fixture
def fresh(db):
    analytic_copy.close_all()
    yield db
    analytic_copy.close_all()


def page(path: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=RUN_SECONDS)
    sign_in(at, "marketer")
    at.run()
    at.switch_page(path)
    at.run()
    no_failures(at)
    return at


def mapping_box(at: AppTest, column: str):
    return next(box for box in at.selectbox if box.key and box.key.startswith("map:") and box.label == column)


def test_a_column_kept_as_an_attribute_on_the_data_page_is_registered_and_stored(fresh):
    at = page("app_pages/data.py")
    at.file_uploader(key="import-file").set_value(("loyalty.csv", FILE.encode(), "text/csv"))
    at.run()
    no_failures(at)
    for column, kind in (("Loyalty Tier", "text"), ("App User", "yes/no")):
        mapping_box(at, column).set_value("Keep as a custom attribute")
        at.run()
        next(box for box in at.selectbox if box.label == f"Type of {column}").set_value(kind)
        at.run()
    no_failures(at)
    shown = next(frame.value for frame in at.dataframe if "attr.loyalty_tier" in frame.value.columns)
    assert shown["attr.app_user"].tolist() == ["yes", "no", ""]  # as stored, before anything is written
    assert registered(fresh) == ()  # nothing registered by looking
    next(button for button in at.button if button.label == "Import customers").click()
    at.run()
    no_failures(at)
    assert [(a.name, a.kind) for a in registered(fresh)] == [("attr.loyalty_tier", "text"), ("attr.app_user", "yes/no")]
    stored = fresh.customers.find_one({"customer_id": "L1"})["attributes"]
    assert stored == {"loyalty_tier": "Gold", "app_user": True}

    # The next file's column of that name maps to the attribute by itself.
    at = page("app_pages/data.py")
    at.file_uploader(key="import-file").set_value(("again.csv", FILE.encode(), "text/csv"))
    at.run()
    assert mapping_box(at, "Loyalty Tier").value == "attr.loyalty_tier"


def test_the_segments_page_counts_and_describes_a_rule_on_an_attribute(fresh):
    register_attribute(fresh, "Loyalty Tier", "text", by=CLI)
    fresh.customers.insert_many(
        [
            {"customer_id": "L1", "tags": [], "attributes": {"loyalty_tier": "Gold"}},
            {"customer_id": "L2", "tags": [], "attributes": {"loyalty_tier": "Silver"}},
            {"customer_id": "L3", "tags": [], "attributes": {"loyalty_tier": " gold"}},
        ]
    )
    at = page("app_pages/segments.py")
    at.text_area(key="paste-text").input(json.dumps(GOLD))
    next(b for b in at.button if b.label == "Load into the builder").click()
    at.run()
    no_failures(at)
    assert {m.label: m.value for m in at.metric}["Customers in this segment"] == "2"
    assert any("whose loyalty tier is “Gold”" in m.value for m in at.markdown)


def test_the_builder_offers_attributes_with_their_values_and_reads_them_back(fresh):
    register_attribute(fresh, "Loyalty Tier", "text", by=CLI)
    register_attribute(fresh, "App User", "yes/no", by=CLI)
    fresh.customers.insert_many(
        [
            {"customer_id": "L1", "tags": [], "attributes": {"loyalty_tier": "Gold", "app_user": True}},
            {"customer_id": "L2", "tags": [], "attributes": {"loyalty_tier": "Silver"}},
        ]
    )
    copy = analytic_copy.open_copy()
    choices = value_choices(copy.cursor(), copy.attributes)
    assert choices["attr.loyalty_tier"] == ["Gold", "Silver"]
    config = builder_config(choices, copy.catalogue)
    assert config["fields"]["attr__loyalty_tier"]["label"] == "Loyalty Tier"  # no dot: RAQB reads it as a path
    assert config["fields"]["attr__loyalty_tier"]["fieldSettings"]["listValues"][0] == {
        "value": "Gold",
        "title": "Gold",
    }
    assert config["types"][config["fields"]["attr__app_user"]["type"]]["widgets"].keys() == {"boolean"}
    rule = {"op": "and", "rules": [*GOLD["rules"], {"field": "attr.app_user", "operator": "=", "value": True}]}
    tree = rule_to_tree(rule, set(choices), copy.catalogue)
    assert read_tree(tree, copy.catalogue).rule.to_json() == {"not": False, **rule}


def test_the_ai_prompt_names_the_attributes_and_their_values(fresh):
    register_attribute(fresh, "Loyalty Tier", "text", by=CLI)
    fresh.customers.insert_one({"customer_id": "L1", "tags": [], "attributes": {"loyalty_tier": "Platinum"}})
    copy = analytic_copy.open_copy()
    facts = data_facts(copy.cursor(), copy.attributes)
    from datetime import date

    prompt = system_prompt(date(2024, 3, 1), facts)
    assert "- attr.loyalty_tier (string): Custom attribute 'Loyalty Tier'" in prompt
    assert "Values of attr.loyalty_tier in the data: Platinum" in prompt


def test_a_customers_page_lists_their_attributes_by_label():
    from datetime import UTC, datetime

    from crm.segment_engine.attributes import Attribute
    from crm.ui.browse_panel import attribute_line

    registry = (
        Attribute("loyalty_tier", "Loyalty Tier", "text"),
        Attribute("app_user", "App User", "yes/no"),
        Attribute("rating", "Rating", "number"),
        Attribute("club_joined", "Club Joined", "date"),
        Attribute("stores", "Stores", "list"),
    )
    values = {
        "loyalty_tier": "Gold",
        "app_user": False,
        "rating": 4.0,
        "club_joined": datetime(2024, 3, 1, tzinfo=UTC),
        "stores": [],
    }
    assert (
        attribute_line(values, registry) == "Loyalty Tier: Gold · App User: no · Rating: 4 · Club Joined: 01 Mar 2024"
    )
