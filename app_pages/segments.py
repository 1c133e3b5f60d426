"""Segments: build a rule by dragging conditions and groups, watch the audience, save and export."""

import json

import streamlit as st
from streamlit_condition_tree import condition_tree

from crm import analytics
from crm.auth import allowed
from crm.errors import InvalidInput
from crm.segment_builder import builder_config
from crm.segment_builder.choices import value_choices, with_rule_values
from crm.segment_builder.reading import read_json, read_tree
from crm.segment_engine import describe_rule
from crm.segment_engine.catalogue import Catalogue
from crm.ui.audience_panel import show_export, show_preview, show_sample
from crm.ui.auth import require_user
from crm.ui.builder_state import OPEN_ID, builder_key, current_tree, load_into_builder
from crm.ui.data import get_database, workspace_fields
from crm.ui.errors import errors_shown
from crm.ui.saved_segments_panel import save_panel, saved_segments_panel

user = require_user()  # signed out: the sign-in form, and nothing of this page


@st.cache_data(show_spinner=False, max_entries=4)
def cached_choices(data_version: str) -> dict[str, list[str]]:
    copy = analytics.open_copy()
    return value_choices(copy.cursor(), copy.attributes)


@st.fragment
def builder_and_preview(config: dict, fields: Catalogue) -> None:
    """The builder and everything that follows the rule; an edit reruns only this part."""
    # Mounted with the tree it holds, not the one last loaded: the browser remounts the component
    # whenever the layout above it changes, and it then starts from `tree=`.
    condition_tree(
        config,
        return_type="none",
        tree=current_tree(),
        key=builder_key(),
        min_height=420,
        placeholder="Add a condition, or open a saved segment.",
    )
    # "none" is no export format: the widget then sends only its tree, which we convert ourselves.
    reading = read_tree(current_tree(), fields)
    if reading.empty:
        st.info(
            "Add a condition to see who it finds: drag conditions to reorder them or into groups.",
            icon=":material/touch_app:",
        )
        return
    if reading.problem:
        st.warning(f"To see the audience, fix this: {reading.problem}", icon=":material/edit:")
        return
    rule_json = reading.rule.to_json()
    with errors_shown():
        english = describe_rule(reading.rule)
        result = show_preview(reading.rule, english)
        sample, as_json, export = st.tabs(["Sample", "Rule as JSON", "Export"])
        with sample:
            show_sample(result)
        with as_json:
            st.code(json.dumps(rule_json, indent=2, ensure_ascii=False), language="json")
        with export:
            show_export(rule_json, result.count, user=user, db=db)


def paste_json_panel(offered) -> None:
    with st.expander("Paste a rule as JSON"):
        with st.form("paste-json", border=False):
            text = st.text_area(
                "Rule JSON",
                height=160,
                key="paste-text",
                placeholder='{"op": "and", "rules": [{"field": "city", "operator": "=", "value": "Pune"}]}',
            )
            if st.form_submit_button("Load into the builder", icon=":material/upload:"):
                try:
                    rule = read_json(text, workspace_fields())
                except InvalidInput as exc:
                    st.warning(f"Not loaded: {exc.message}")
                else:
                    load_into_builder(rule.to_json(), offered, st.session_state.get(OPEN_ID))
                    st.rerun()


def describe_your_audience_slot() -> None:
    """A sentence -> a proposed rule with its count and changes; applied only on the user's click."""
    from crm.ui.describe_audience import describe_audience_panel

    describe_audience_panel(
        read_tree(current_tree(), workspace_fields()).rule,
        apply=lambda rule: load_into_builder(rule, set(choices), st.session_state.get(OPEN_ID)),
    )


# --- the page ------------------------------------------------------------------------------

st.title("Segments")
db = get_database()
may_save = allowed(user, "segment.save")
with errors_shown():
    with st.spinner("Preparing the analytic copy..."):
        copy = analytics.open_copy()
    choices = cached_choices(copy.data_version)
# The builder mounts with its current tree: offer the values in it even when the data has none.
held = read_tree(current_tree(), copy.catalogue).rule
choices = with_rule_values(choices, held.to_json() if held else None)
describe_your_audience_slot()
main, side = st.columns([7, 3], gap="large")
with side:
    with errors_shown():
        saved_segments_panel(db, user, set(choices), may_save)
    if may_save:
        st.subheader("Save")
        save_panel(db, user)
    paste_json_panel(set(choices))
with main:
    builder_and_preview(builder_config(choices, copy.catalogue), copy.catalogue)
