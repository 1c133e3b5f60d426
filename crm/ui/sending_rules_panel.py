"""Settings → Sending rules: the frequency cap (crm.campaigns.sending_rules) and the DLT templates
of SMS (crm.campaigns.dlt)."""

from __future__ import annotations

import streamlit as st

from crm.auth.users import User
from crm.campaigns.dlt import VARIABLE, DltTemplate, dlt_templates, register_dlt_template
from crm.campaigns.sending_rules import (
    MAX_DAYS,
    MAX_MESSAGES,
    SUGGESTED,
    FrequencyCap,
    frequency_cap,
    set_frequency_cap,
)
from crm.store.documents import Database
from crm.ui.errors import errors_shown


def sending_rules_panel(db: Database, user: User) -> None:
    cap = frequency_cap(db)
    st.subheader("Frequency cap")
    st.write(
        "However many colleagues send campaigns, nobody should get an offer every day. With a cap, a "
        "customer who already had that many messages in the last days is left out of a campaign when "
        "it starts, and the pre-send check and History count them as excluded."
    )
    st.caption(f"Now: {cap.describe() if cap else 'off: every campaign reaches everyone with consent'}.")
    with st.form("frequency-cap"):
        # Keyed: the defaults follow the saved cap, and a changing default would make a new widget.
        on = st.toggle("Cap how many messages a customer gets", value=cap is not None, key="cap-on")
        left, right = st.columns(2)
        messages = left.number_input(
            "At most this many messages",
            1,
            MAX_MESSAGES,
            cap.messages if cap else SUGGESTED[0],
            step=1,
            key="cap-messages",
        )
        days = right.number_input(
            "In any this many days", 1, MAX_DAYS, cap.days if cap else SUGGESTED[1], step=1, key="cap-days"
        )
        scope = st.radio(
            "Count",
            ["all channels together", "each channel apart"],
            index=0 if cap is None or cap.across_channels else 1,
            horizontal=True,
            key="cap-scope",
            help="Apart: a customer may get the number above by SMS and again by email",
        )
        if st.form_submit_button("Save", type="primary"):
            with errors_shown():
                chosen = FrequencyCap(int(messages), int(days), scope == "all channels together") if on else None
                set_frequency_cap(db, chosen, by=user)
                st.success(f"Saved: {chosen.describe() if chosen else 'no frequency cap'}.")


def dlt_panel(db: Database, user: User) -> None:
    """Register the SMS templates approved on the DLT platform; list them."""
    st.subheader("DLT templates (SMS in India)")
    st.write(
        "TRAI requires every commercial SMS to name a template registered on the DLT platform and to go "
        "under a registered sender header; operators drop the others. Once a template is registered here, "
        "SMS campaigns must pick one, and the pre-send check holds every message against its text."
    )
    with st.form("dlt-template", clear_on_submit=True):
        left, right = st.columns(2)
        template_id = left.text_input("Template id (from the DLT platform)")
        header = right.text_input("Sender header", max_chars=6, help="Six capital letters, e.g. MINCRM")
        text = st.text_area("Approved text", help=f"As approved, with {VARIABLE} where a value goes")
        if st.form_submit_button("Register template"):
            with errors_shown():
                template = DltTemplate(template_id.strip(), header.strip(), text.strip())
                register_dlt_template(db, template, by=user)
                st.success(f"Registered DLT template {template.template_id}.")
    templates = dlt_templates(db)
    if templates:
        st.dataframe(
            [{"template id": t.template_id, "header": t.header, "text": t.text} for t in templates],
            hide_index=True,
            width="stretch",
        )
