"""The rule builder's state on the Segments page, kept in st.session_state: the tree it was last
loaded with, a counter that remounts the widget when a rule is loaded (it reads `tree=` only when
it mounts), the open saved segment and the one chosen in the list (the selectbox's key)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from crm.segment_builder import rule_to_tree
from crm.segment_builder.reading import read_tree
from crm.segment_engine import Group
from crm.ui.data import workspace_fields

GENERATION, LOADED, OPEN_ID, CHOICE = ("seg_generation", "seg_loaded_tree", "seg_open_id", "segment-choice")


def builder_key() -> str:
    return f"segment-builder-{st.session_state.get(GENERATION, 0)}"


def current_tree() -> Any:
    """The widget's tree; before it reports one (first run, or AppTest), the tree it was given."""
    return st.session_state.get(builder_key()) or st.session_state.get(LOADED)


def load_into_builder(rule_json: dict | None, offered: Any, open_id: str | None = None) -> None:
    old = builder_key()
    st.session_state[LOADED] = rule_to_tree(rule_json, offered, workspace_fields()) if rule_json else None
    st.session_state[GENERATION] = st.session_state.get(GENERATION, 0) + 1
    st.session_state.pop(old, None)
    st.session_state[OPEN_ID] = open_id


class NotReady(Exception):
    """The builder holds no complete rule to save (said as a warning)."""


def builder_rule() -> Group:
    """The builder's rule, complete, or NotReady saying what is missing."""
    reading = read_tree(current_tree(), workspace_fields())
    if reading.empty:
        raise NotReady("The builder is empty: add a condition first.")
    if reading.problem:
        raise NotReady(f"Fix the rule first: {reading.problem}")
    assert reading.rule is not None  # neither empty nor a problem: a complete rule
    return reading.rule
