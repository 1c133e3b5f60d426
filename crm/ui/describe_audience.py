""" "Describe your audience" on the Segments page: a sentence -> a proposed rule, shown in English
with its count and what it changes; the user applies it into the builder or discards it.

Nothing is applied without a click. Gemini gets a short timeout and the offline parser answers
when it is slow or failing, so the page never waits long on AI; the panel says which one answered.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import streamlit as st

from crm import analytics
from crm.ai.client import gemini_client
from crm.ai.facts import data_facts
from crm.ai.nl_rules import OFFLINE, propose_rule
from crm.ai.rule_changes import rule_changes
from crm.analytics.segment_preview import today_utc
from crm.config import load_settings
from crm.formats.indian_numbers import as_text, format_count
from crm.segment_engine import Group, describe_rule, parse_rule
from crm.ui.data import workspace_fields
from crm.ui.errors import errors_shown

PROPOSAL = "ai_proposal"  # session state: the proposal waiting for apply or discard
UI_TIMEOUT_MS, UI_ATTEMPTS = 6_000, 2  # the page waits at most about this long for Gemini


def ui_client():
    settings = load_settings()
    settings = dataclasses.replace(
        settings,
        gemini_timeout_ms=min(settings.gemini_timeout_ms, UI_TIMEOUT_MS),
        gemini_attempts=min(settings.gemini_attempts, UI_ATTEMPTS),
    )
    return gemini_client(settings)


def engine_label(engine: str) -> str:
    return "Answered offline (the built-in parser)" if engine == OFFLINE else f"Answered by Gemini (`{engine}`)"


def describe_audience_panel(current: Group | None, apply: Callable[[dict], None]) -> None:
    """`current`: the builder's rule (None when empty or incomplete); `apply(rule_json)` loads a rule."""
    with st.expander("Describe your audience", icon=":material/auto_awesome:", expanded=PROPOSAL in st.session_state):
        with st.form("describe-audience", border=False):
            text = st.text_input(
                "In your own words",
                key="describe-text",
                placeholder="e.g. people who spent more than ₹5,000 and have been inactive for 3 months",
            )
            asked = st.form_submit_button("Propose a rule", icon=":material/auto_awesome:")
        if asked:
            with errors_shown(), st.spinner("Reading your description..."):
                copy = analytics.open_copy()
                facts = data_facts(copy.cursor(), copy.attributes)
                proposal = propose_rule(text, today_utc(), facts, client=ui_client())
                st.session_state[PROPOSAL] = {
                    "text": text,
                    "engine": proposal.engine,
                    "notes": list(proposal.notes),
                    "rule": proposal.rule.to_json() if proposal.rule else None,
                }
        if PROPOSAL in st.session_state:
            show_proposal(st.session_state[PROPOSAL], current, apply)


def show_proposal(proposal: dict, current: Group | None, apply: Callable[[dict], None]) -> None:
    st.caption(engine_label(proposal["engine"]))
    for note in proposal["notes"]:
        (st.warning if note.startswith(("did not understand", "Gemini did not help")) else st.caption)(note)
    rule = proposal["rule"]
    if rule is None:
        st.info(
            "No condition found in that description. Try naming a city, an amount, a number of "
            "orders or a time, e.g. “customers in Pune who spent over ₹5,000”."
        )
        if st.button("Discard", key="proposal-discard-empty"):
            st.session_state.pop(PROPOSAL, None)
            st.rerun()
        return
    with errors_shown():
        group = parse_rule(rule, workspace_fields())
        st.markdown(f"**Proposed:** {as_text(describe_rule(group))}")
        proposed_count = analytics.preview(group, sample=0).count
        line = f"**{format_count(proposed_count)}** customers"
        if current is not None:
            current_count = analytics.preview(current, sample=0).count
            delta = proposed_count - current_count
            line += (
                f" (the current rule finds {format_count(current_count)}; {'+' if delta >= 0 else '−'}"
                f"{format_count(abs(delta))})"
            )
        st.markdown(line)
        show_changes(current, group)
    apply_col, discard_col = st.columns(2)
    if apply_col.button("Apply to the builder", type="primary", key="proposal-apply", icon=":material/check:"):
        st.session_state.pop(PROPOSAL, None)
        apply(rule)
        st.rerun()
    if discard_col.button("Discard", key="proposal-discard", icon=":material/close:"):
        st.session_state.pop(PROPOSAL, None)
        st.rerun()


def show_changes(current: Group | None, proposed: Group) -> None:
    changes = rule_changes(current, proposed)
    if current is None:
        st.caption("The builder is empty: applying puts this rule in it.")
        return
    if changes.same:
        st.caption("Same as the rule in the builder.")
        return
    lines = [f"- adds: {e}" for e in changes.added] + [f"- removes: {e}" for e in changes.removed]
    if changes.combine:
        lines.append(f"- {changes.combine}")
    st.markdown("**Changes against the builder's rule** (applying replaces it):\n" + "\n".join(lines))
