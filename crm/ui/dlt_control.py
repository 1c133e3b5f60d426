"""The compose page's DLT template choice for SMS (crm.campaigns.dlt)."""

from __future__ import annotations

import streamlit as st

from crm.campaigns.dlt import dlt_templates
from crm.store.documents import Database


def dlt_control(db: Database, channel: str) -> str | None:
    """The DLT template id an SMS campaign names; None for other channels or without any."""
    if channel != "sms":
        return None
    templates = {t.template_id: t for t in dlt_templates(db)}
    if not templates:
        st.caption(
            "DLT is not set up: SMS go out without a template id. Indian operators drop commercial SMS "
            "without one; an admin registers the approved templates in Settings → Sending rules."
        )
        return None
    chosen = st.selectbox(
        "DLT template",
        list(templates),
        key="cmp_dlt",
        format_func=lambda t: f"{t} · {templates[t].header} · {templates[t].text[:60]}",
        help="The operator drops an SMS whose text is not this template's, with its {#var#} values filled in",
    )
    if chosen:
        st.caption(f"Approved text: {templates[chosen].text}")
    return chosen
