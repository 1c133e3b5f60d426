"""Settings → Sending rules: the workspace's frequency cap (crm.campaigns.sending_rules)."""

from __future__ import annotations

import streamlit as st

from crm.auth.users import User
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
