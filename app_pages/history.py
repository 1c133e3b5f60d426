"""History: every campaign with its counters, and one campaign's funnel, timeline and log."""

import streamlit as st

from crm.campaigns import list_campaigns
from crm.ui.auth import require_user
from crm.ui.campaign_history_panel import detail_panel, overview_panel, when
from crm.ui.data import get_database
from crm.ui.errors import errors_shown

user = require_user()  # signed out: the sign-in form, and nothing of this page

st.title("Campaign history")
db = get_database()
with errors_shown():
    campaigns = list_campaigns(db)
    overview_panel(db, campaigns)
    if campaigns:
        chosen = st.selectbox(
            "Campaign", campaigns, key="history-campaign", format_func=lambda c: f"{c.name} · {when(c.created_at)}"
        )
        detail_panel(db, chosen.id, user)
