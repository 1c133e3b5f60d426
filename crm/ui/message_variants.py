"""Message variants in Campaigns compose: the objective -> 2-3 checked variants with a tone label,
an example, their SMS length and which engine wrote them. "Use" puts one variant in the first
message box, "Use all" makes them the campaign's variants; the boxes stay editable.

    message_variants_panel(objective, describe_rule(rule), channel,
                           template_key="cmp_template_{}", count_key="cmp_variants")
"""

from __future__ import annotations

import dataclasses

import streamlit as st

from crm.ai.client import gemini_client
from crm.ai.variants import VariantSet, message_variants
from crm.config import load_settings
from crm.errors import CRMError
from crm.segment_engine import describe_rule
from crm.ui.data import workspace_fields
from crm.ui.describe_audience import UI_ATTEMPTS, UI_TIMEOUT_MS, engine_label
from crm.ui.errors import errors_shown

VARIANTS = "ai_variants"  # session state: the last variants offered


def _client():
    settings = load_settings()
    return gemini_client(
        dataclasses.replace(
            settings,
            gemini_timeout_ms=min(settings.gemini_timeout_ms, UI_TIMEOUT_MS),
            gemini_attempts=min(settings.gemini_attempts, UI_ATTEMPTS),
        )
    )


def english_or_blank(rule) -> str:
    """The audience in English for the prompt; blank while the rule is missing or invalid."""
    try:
        return describe_rule(rule, workspace_fields()) if rule else ""
    except CRMError:
        return ""


def _use(template_key: str, texts: list[str], count_key: str | None) -> None:
    # A callback: it runs before the message boxes are drawn again, so it may set their values.
    for i, text in enumerate(texts):
        st.session_state[template_key.format(i)] = text
    if count_key and len(texts) > 1:
        st.session_state[count_key] = len(texts)


def message_variants_panel(
    objective: str, segment_english: str, channel: str, template_key: str, count_key: str | None = None
) -> None:
    """`template_key`: the message boxes' session-state keys with {} for the index (from 0);
    `count_key`: the key of the number of variants, if the page has one."""
    with st.expander(
        "Suggest messages for this objective", icon=":material/auto_awesome:", expanded=VARIANTS in st.session_state
    ):
        if st.button(
            "Suggest variants",
            key="variants-suggest",
            icon=":material/auto_awesome:",
            help="2-3 messages in different tones from the objective and the audience",
        ):
            with errors_shown(), st.spinner("Writing variants..."):
                st.session_state[VARIANTS] = message_variants(objective, segment_english, channel, client=_client())
        result: VariantSet | None = st.session_state.get(VARIANTS)
        if result is None:
            return
        st.caption(engine_label(result.engine) + (f" · template kind: {result.kind}" if result.kind else ""))
        for note in result.notes:
            st.warning(note)
        for i, variant in enumerate(result.variants):
            with st.container(border=True):
                st.markdown(f"**{variant.tone}**")
                st.code(variant.text, language=None, wrap_lines=True)
                length = (
                    f"{variant.sms_segments} SMS segment{'s' if variant.sms_segments > 1 else ''} ({variant.encoding})"
                    if channel == "sms"
                    else f"{len(variant.example)} characters"
                )
                st.caption(f"For example: {variant.example} · {length}")
                st.button(
                    "Use this message",
                    key=f"variant-use-{i}",
                    on_click=_use,
                    args=(template_key, [variant.text], None),
                    icon=":material/edit:",
                )
        if count_key:
            st.button(
                f"Use all {len(result.variants)} as the campaign's variants",
                key="variant-use-all",
                on_click=_use,
                args=(template_key, [v.text for v in result.variants], count_key),
            )
