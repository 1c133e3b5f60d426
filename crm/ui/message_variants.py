"""Message variants in Campaigns compose: an objective -> 2-3 checked variants with a tone label,
their SMS length and which engine wrote them; "Use" copies one into the message box to edit.

    message_variants_panel(describe_rule(rule), channel="sms", target_key="compose-message")
"""

from __future__ import annotations

import dataclasses

import streamlit as st

from crm.ai.client import gemini_client
from crm.ai.variants import message_variants
from crm.config import load_settings
from crm.ui.describe_audience import UI_ATTEMPTS, UI_TIMEOUT_MS, engine_label
from crm.ui.errors import errors_shown

VARIANTS = "ai_variants"  # session state: the last variants offered


def _client():
    settings = load_settings()
    return gemini_client(dataclasses.replace(
        settings, gemini_timeout_ms=min(settings.gemini_timeout_ms, UI_TIMEOUT_MS),
        gemini_attempts=min(settings.gemini_attempts, UI_ATTEMPTS)))


def _use(target_key: str, text: str) -> None:
    st.session_state[target_key] = text  # a callback: runs before the message box is drawn again


def message_variants_panel(segment_english: str, channel: str, target_key: str) -> None:
    """`target_key`: the session-state key of the compose page's message text area."""
    with st.expander("Suggest messages", icon=":material/auto_awesome:", expanded=VARIANTS in st.session_state):
        with st.form("suggest-messages", border=False):
            objective = st.text_input("Objective", key="variants-objective",
                                      placeholder="e.g. win back inactive users with 15% off")
            asked = st.form_submit_button("Suggest variants", icon=":material/auto_awesome:")
        if asked:
            with errors_shown(), st.spinner("Writing variants..."):
                result = message_variants(objective, segment_english, channel, client=_client())
                st.session_state[VARIANTS] = result
        result = st.session_state.get(VARIANTS)
        if result is None:
            return
        st.caption(engine_label(result.engine) + (f" · template kind: {result.kind}" if result.kind else ""))
        for note in result.notes:
            st.warning(note)
        for i, variant in enumerate(result.variants):
            with st.container(border=True):
                st.markdown(f"**{variant.tone}**")
                st.code(variant.text, language=None, wrap_lines=True)
                sms = f"{variant.sms_segments} SMS segment{'s' if variant.sms_segments > 1 else ''} " \
                      f"({variant.encoding})" if channel == "sms" else f"{len(variant.example)} characters"
                st.caption(f"For example: {variant.example} · {sms}")
                st.button("Use this message", key=f"variant-use-{i}", on_click=_use,
                          args=(target_key, variant.text), icon=":material/edit:")
