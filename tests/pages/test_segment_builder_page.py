"""The Segments page under AppTest: preview, messages, saved segments, pasted JSON, export.

AppTest cannot drive the builder widget itself (it only sees the component's default value), so
rules reach the page the two other ways it has: pasted JSON and opened saved segments; the
widget is exercised in the browser test.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from streamlit.testing.v1 import AppTest

from crm.analytics import analytic_copy
from crm.analytics.segment_preview import count
from crm.auth import CLI
from crm.demo import DemoSpec
from crm.formats.indian_numbers import format_count
from crm.segment_builder import download, rule_to_tree
from crm.segment_builder.download import audience_csv
from crm.segment_builder.reading import read_tree
from crm.segment_builder.widget_config import window_key
from crm.segment_engine import describe_rule, parse_rule
from crm.segments import create_segment, get_segment, get_segment_by_name, list_segments
from crm.store import get_db
from tests.apptest_support import no_failures
from tests.auth_fixtures import sign_in
from tests.demo_copy import demo_data
from tests.support import ROOT

RUN_SECONDS = 120
RULE = {
    "op": "and",
    "rules": [
        {"field": "total_spend", "operator": ">", "value": 5000},
        {
            "op": "or",
            "rules": [
                {"field": "city", "operator": "in", "value": ["Mumbai", "Pune"]},
                {"field": "order_count", "operator": ">=", "value": 2, "within_days": 30},
            ],
        },
    ],
}


@pytest.fixture
def demo_db(db):
    analytic_copy.close_all()  # each test has its own database: no copy of another one
    demo_data(db, DemoSpec(customers=300, orders=3_000, seed=3))
    yield db
    analytic_copy.close_all()


def segments_page(role: str = "marketer") -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=RUN_SECONDS)
    sign_in(at, role)
    at.run()
    at.switch_page("app_pages/segments.py")
    at.run()
    no_failures(at)
    return at


def button(at: AppTest, label: str):
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r}; have {[b.label for b in at.button]}"
    return matches[0]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def paste(at: AppTest, rule) -> AppTest:
    at.text_area(key="paste-text").input(rule if isinstance(rule, str) else json.dumps(rule))
    button(at, "Load into the builder").click()
    return at.run()


def test_an_empty_builder_asks_for_a_condition_and_shows_no_numbers(demo_db):
    at = segments_page()
    assert [t.value for t in at.title] == ["Segments"]
    assert any("Add a condition" in i.value for i in at.info)
    assert not at.metric and not at.warning


def test_a_pasted_rule_shows_its_count_share_waterfall_sample_and_english(demo_db):
    at = paste(segments_page(), RULE)
    no_failures(at)
    expected = count(RULE)
    assert 0 < expected < 300
    assert metrics(at)["Customers in this segment"] == format_count(expected)
    assert metrics(at)["Share of all customers"] == f"{expected / 300:.1%}"
    assert any(describe_rule(RULE) in m.value for m in at.markdown)
    assert len(at.get("plotly_chart")) == 2  # waterfall and spend histogram
    sample = at.dataframe[-1].value
    assert len(sample) == min(50, expected)
    shown = json.loads(at.code[0].value)
    assert shown["rules"][1]["rules"][1] == {"field": "order_count", "operator": ">=", "value": 2, "within_days": 30}


@pytest.mark.parametrize(
    "pasted, words",
    [
        (
            {"op": "and", "rules": [{"field": "city", "operator": ">", "value": 3}]},
            'Condition 1 (City): operator ">" does not apply to city',
        ),
        ({"op": "and", "rules": [{"op": "or", "rules": []}]}, "Group 1: empty group"),
        ('{"op": "and", "rules": [', "not valid JSON"),
    ],
)
def test_a_bad_pasted_rule_says_what_to_fix_and_keeps_the_builder(demo_db, pasted, words):
    at = paste(segments_page(), pasted)
    no_failures(at)
    assert any(words in w.value for w in at.warning), [w.value for w in at.warning]
    assert not at.metric


def test_an_incomplete_rule_in_the_builder_says_what_to_fix(demo_db):
    at = segments_page()
    at.session_state["seg_loaded_tree"] = {
        "type": "group",
        "properties": {"conjunction": "AND"},
        "children": [
            {"type": "rule", "properties": {"field": "city", "operator": "=", "value": ["Pune"]}},
            {
                "type": "rule",
                "properties": {"field": window_key("total_spend"), "operator": window_key(">"), "value": [5000, None]},
            },
        ],
    }
    at.run()
    no_failures(at)
    assert [w.value for w in at.warning] == [
        "To see the audience, fix this: Condition 2 (Total spend): enter the number of days (in the last N days)"
    ]
    assert not at.metric


def test_save_lists_the_segment_with_its_count(demo_db):
    at = paste(segments_page(), RULE)
    at.text_input(key="save-name").input("Big spenders, Mumbai or Pune")
    button(at, "Save as a new segment").click()
    at.run()
    no_failures(at)
    saved = get_segment_by_name(demo_db, "Big spenders, Mumbai or Pune")
    assert saved.last_count == count(RULE) and saved.last_counted_at is not None
    assert saved.owner == "test-marketer"
    listed = next(d.value for d in at.dataframe if "Name" in d.value.columns)
    assert list(listed["Name"]) == ["Big spenders, Mumbai or Pune"]
    assert list(listed["Customers"]) == [format_count(saved.last_count)]
    assert any("Saved" in s.value for s in at.success)


def test_saving_a_nameless_or_taken_name_explains_and_saves_nothing_new(demo_db):
    create_segment(demo_db, "Taken", RULE, by=CLI)
    at = paste(segments_page(), RULE)
    button(at, "Save as a new segment").click()
    at.run()
    assert any("needs a name" in e.value for e in at.error)
    at.text_input(key="save-name").input("Taken")
    button(at, "Save as a new segment").click()
    at.run()
    assert any("already exists" in e.value for e in at.error)
    assert [s.name for s in list_segments(demo_db)] == ["Taken"]


def test_open_rename_duplicate_and_confirmed_delete(demo_db):
    mumbai = {"op": "and", "rules": [{"field": "city", "operator": "=", "value": "Mumbai"}]}
    create_segment(demo_db, "Mumbai", mumbai, by=CLI)
    at = segments_page()
    button(at, "Open in the builder").click()
    at.run()
    no_failures(at)
    assert metrics(at)["Customers in this segment"] == format_count(count(mumbai))
    assert get_segment_by_name(demo_db, "Mumbai").last_count == count(mumbai)

    at.text_input(key="rename-name").input("Mumbai shoppers")
    button(at, "Rename").click()
    at.run()
    no_failures(at)
    assert [s.name for s in list_segments(demo_db)] == ["Mumbai shoppers"]

    button(at, "Duplicate").click()
    at.run()
    assert [s.name for s in list_segments(demo_db)] == ["Mumbai shoppers", "Mumbai shoppers (copy)"]

    at.selectbox(key="segment-choice").select(get_segment_by_name(demo_db, "Mumbai shoppers").id)
    at.run()
    button(at, "Delete").click()
    at.run()
    assert any("cannot be undone" in w.value for w in at.warning)
    button(at, "Cancel").click()
    at.run()
    assert len(list_segments(demo_db)) == 2
    button(at, "Delete").click()
    at.run()
    button(at, "Yes, delete").click()
    at.run()
    no_failures(at)
    assert [s.name for s in list_segments(demo_db)] == ["Mumbai shoppers (copy)"]


def test_save_changes_updates_the_open_segment(demo_db):
    seg = create_segment(
        demo_db, "Pune", {"op": "and", "rules": [{"field": "city", "operator": "=", "value": "Pune"}]}, by=CLI
    )
    at = segments_page()
    button(at, "Open in the builder").click()
    at.run()
    at = paste(at, RULE)
    button(at, "Save changes to “Pune”").click()
    at.run()
    no_failures(at)
    changed = get_segment_by_name(demo_db, "Pune")
    assert changed.id == seg.id and changed.rules == parse_rule(RULE).to_json()
    assert changed.last_count == count(RULE)


MUMBAI = {"op": "and", "rules": [{"field": "city", "operator": "=", "value": "Mumbai"}]}


def build_in_the_widget(at: AppTest, rule) -> None:
    """What the builder reports after someone builds `rule` in it (AppTest's component reports
    nothing of itself): its tree under the widget's key."""
    generation = at.session_state["seg_generation"] if "seg_generation" in at.session_state else 0
    at.session_state[f"segment-builder-{generation}"] = rule_to_tree(rule)


def mounted_rule(at: AppTest) -> dict | None:
    """The rule the builder is (re)mounted with: what a browser shows after the page redraws it."""
    args = json.loads(at.get("component_instance")[0].proto.json_args)
    rule = read_tree(args["tree"]).rule
    return rule.to_json() if rule else None


def open_caption(at: AppTest) -> str | None:
    return next((c.value for c in at.caption if c.value.startswith("Open: ")), None)


def open_segment(at: AppTest, segment_id: str) -> AppTest:
    at.selectbox(key="segment-choice").select(segment_id)
    at.run()
    button(at, "Open in the builder").click()
    return at.run()


def test_save_as_new_keeps_the_rule_in_the_builder_and_opens_the_new_segment(demo_db):
    mumbai = create_segment(demo_db, "Mumbai", MUMBAI, by=CLI)
    at = open_segment(segments_page(), mumbai.id)
    assert open_caption(at) == "Open: **Mumbai**"
    build_in_the_widget(at, RULE)  # an edit of the open segment...
    at.text_input(key="save-name").input("Big spenders")
    button(at, "Save as a new segment").click()  # ...saved under a new name
    at.run()
    no_failures(at)
    saved = get_segment_by_name(demo_db, "Big spenders")
    assert saved.rules == parse_rule(RULE).to_json() and saved.last_count == count(RULE)
    assert get_segment(demo_db, mumbai.id).rules == parse_rule(MUMBAI).to_json()
    assert mounted_rule(at) == parse_rule(RULE).to_json(), "the builder must keep the saved rule"
    assert open_caption(at) == "Open: **Big spenders**"
    assert at.selectbox(key="segment-choice").value == saved.id
    assert any(c.value == saved.description for c in at.caption)
    assert "Save changes to “Big spenders”" in [b.label for b in at.button]
    button(at, "Delete").click()
    at.run()
    assert any("Delete “Big spenders”?" in w.value for w in at.warning)


def test_after_duplicate_the_copy_is_open_shown_and_what_delete_acts_on(demo_db):
    mumbai = create_segment(demo_db, "Mumbai", MUMBAI, by=CLI)
    at = open_segment(segments_page(), mumbai.id)
    button(at, "Duplicate").click()
    at.run()
    no_failures(at)
    copy = get_segment_by_name(demo_db, "Mumbai (copy)")
    assert open_caption(at) == "Open: **Mumbai (copy)**"
    assert at.selectbox(key="segment-choice").value == copy.id
    assert mounted_rule(at) == copy.rules
    assert copy.last_count == count(MUMBAI)
    button(at, "Delete").click()
    at.run()
    assert [w.value for w in at.warning] == ["Delete “Mumbai (copy)”? This cannot be undone."]
    button(at, "Yes, delete").click()
    at.run()
    no_failures(at)
    assert [s.name for s in list_segments(demo_db)] == ["Mumbai"]
    assert any(s.value == "Deleted “Mumbai (copy)”." for s in at.success)
    # The deleted segment was open: nothing is open now, and the builder keeps its rule.
    assert open_caption(at) is None and "Save changes to “Mumbai (copy)”" not in [b.label for b in at.button]
    assert at.selectbox(key="segment-choice").value == mumbai.id
    assert mounted_rule(at) == parse_rule(MUMBAI).to_json()


def test_rename_and_save_after_duplicate_change_the_copy_not_the_original(demo_db):
    mumbai = create_segment(demo_db, "Mumbai", MUMBAI, by=CLI)
    at = open_segment(segments_page(), mumbai.id)
    button(at, "Duplicate").click()
    at.run()
    copy_id = get_segment_by_name(demo_db, "Mumbai (copy)").id
    at.text_input(key="rename-name").input("Mumbai, second try")
    button(at, "Rename").click()
    at.run()
    no_failures(at)
    assert open_caption(at) == "Open: **Mumbai, second try**"
    at = paste(at, RULE)
    button(at, "Save changes to “Mumbai, second try”").click()
    at.run()
    no_failures(at)
    assert get_segment(demo_db, copy_id).rules == parse_rule(RULE).to_json()
    original = get_segment(demo_db, mumbai.id)
    assert (original.name, original.rules) == ("Mumbai", mumbai.rules)
    assert at.selectbox(key="segment-choice").value == copy_id and mounted_rule(at) == parse_rule(RULE).to_json()


def test_opening_another_segment_makes_it_the_one_saved_and_shown(demo_db):
    mumbai = create_segment(demo_db, "Mumbai", MUMBAI, by=CLI)
    spenders = create_segment(demo_db, "Big spenders", RULE, by=CLI)
    at = open_segment(segments_page(), mumbai.id)
    at = open_segment(at, spenders.id)
    no_failures(at)
    assert open_caption(at) == "Open: **Big spenders**" and mounted_rule(at) == spenders.rules
    assert metrics(at)["Customers in this segment"] == format_count(count(RULE))
    # Choosing a segment in the list without opening it changes neither what is open nor the builder.
    at.selectbox(key="segment-choice").select(mumbai.id)
    at.run()
    assert open_caption(at) == "Open: **Big spenders**" and mounted_rule(at) == spenders.rules


def test_a_viewer_can_open_but_not_save_rename_or_delete(demo_db):
    create_segment(
        demo_db, "Mumbai", {"op": "and", "rules": [{"field": "city", "operator": "=", "value": "Mumbai"}]}, by=CLI
    )
    at = segments_page("viewer")
    labels = {b.label for b in at.button}
    assert "Open in the builder" in labels
    assert not labels & {"Save as a new segment", "Rename", "Duplicate", "Delete"}
    assert any("viewer" in c.value for c in at.caption)


def test_the_describe_your_audience_place_offers_a_description_box(demo_db):
    at = segments_page()  # its behaviour is tested in test_ai_pages.py
    assert at.text_input(key="describe-text").label == "In your own words"


def test_downloaded_csv_has_one_row_per_customer_and_the_chosen_columns(demo_db):
    data = audience_csv(RULE, ["customer_id", "city", "total_spend"], by=CLI, db=get_db())
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert len(rows) == count(RULE)
    assert list(rows[0]) == ["customer_id", "city", "total_spend"]


def test_a_large_export_is_prepared_behind_a_progress_bar_then_downloaded(demo_db, monkeypatch):
    monkeypatch.setattr(download, "PREPARE_ABOVE_ROWS", 5)  # the demo's audience counts as large
    at = paste(segments_page(), RULE)
    expected = count(RULE)
    assert expected > 5
    assert not at.get("download_button"), "a large export must be prepared before it can download"
    button(at, f"Prepare CSV ({format_count(expected)} customers)").click()
    at.run()
    no_failures(at)
    assert at.get("download_button"), "after preparing, the download button is offered"
    assert any("Prepared at" in c.value for c in at.caption)
    (rule_text, columns), data, _ = at.session_state["seg_prepared_export"]
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert len(rows) == expected and list(rows[0]) == list(columns)
    # Choosing other columns asks for a new file rather than offering the old one.
    at.multiselect(key="export-columns").set_value(["customer_id", "email"])
    at.run()
    assert not at.get("download_button")
    assert f"Prepare CSV ({format_count(expected)} customers)" in [b.label for b in at.button]
