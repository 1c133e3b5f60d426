"""Campaigns: pick an audience, write the message, preview it for real customers, check, send or
schedule; the scheduled campaigns, each with Cancel."""

import streamlit as st

from crm.auth import allowed
from crm.ui.auth import require_user
from crm.ui.compose_panel import check_and_send_panel, compose_form, sending_panel, show_message_preview
from crm.ui.data import get_database
from crm.ui.errors import errors_shown
from crm.ui.schedule_panel import scheduled_panel
from crm.ui.send_test_panel import send_test_panel

user = require_user()  # signed out: the sign-in form, and nothing of this page

st.title("Campaigns")
db = get_database()
if not allowed(user, "campaign.send"):
    st.info(f"Your role ({user.role}) may preview campaigns but not send them.", icon=":material/lock:")

with errors_shown():
    draft = compose_form(db)
    if draft is not None:
        show_message_preview(draft)
        send_test_panel(db, user, draft)
        check_and_send_panel(db, user, draft)
sending_panel(db)
with errors_shown():
    scheduled_panel(db, user)
