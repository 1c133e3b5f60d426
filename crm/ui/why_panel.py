"""On a customer's page: why they are in or out of a segment, condition by condition, with their
own values, groups combined as the engine combines them, and the verdict."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from crm.analytics.browse import CustomerView
from crm.formats.indian_numbers import as_text
from crm.segment_engine.explain import Step, explain
from crm.segment_engine.model import load_rule_json
from crm.segments import list_segments
from crm.store.documents import Database
from crm.ui.data import workspace_fields
from crm.ui.errors import errors_shown

PASTE = "(paste a rule)"


def _lines(step: Step, depth: int = 0) -> list[str]:
    """Markdown list lines: a tick or a cross, the condition, and this customer's value."""
    mark = ":green[:material/check_circle:]" if step.held else ":red[:material/cancel:]"
    indent = "    " * depth
    if step.steps:
        line = f"{indent}- {mark} **{step.text}**"
        return [line, *(line for member in step.steps for line in _lines(member, depth + 1))]
    return [f"{indent}- {mark} {as_text(step.text)} — theirs: **{as_text(step.value or '')}**"]


def why_panel(db: Database, view: CustomerView) -> None:
    """Choose a saved segment (or paste a rule) and see why this customer is in or out of it."""
    with st.expander("Why is this customer in or out of a segment?", icon=":material/rule:"):
        segments = {s.name: s.rules for s in list_segments(db)}
        choice = st.selectbox(
            "Segment", [*segments, PASTE], index=None, key="why-segment", placeholder="Choose a saved segment"
        )
        if choice is None:
            return
        with errors_shown():
            rule = segments.get(choice)
            if rule is None:
                text = st.text_area("Rule (JSON)", key="why-rule", height=120)
                if not text.strip():
                    return
                rule = load_rule_json(text)
            today = datetime.now(UTC).date()
            explained = explain(rule, view.customer, view.orders, today, workspace_fields())
            name = as_text(view.customer.get("name") or view.customer["customer_id"])
            if explained.selected:
                st.success(f"{name} is in this segment today ({today:%d %b %Y}).", icon=":material/check_circle:")
            else:
                st.info(f"{name} is not in this segment today ({today:%d %b %Y}).", icon=":material/block:")
            st.markdown("\n".join(_lines(explained.rule)))
            st.caption("Dates compare as UTC calendar days, like the segment's count.")
