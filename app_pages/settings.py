"""Settings (admins): users and roles, API keys, sending rules, the status of each part, the audit log."""

import streamlit as st

from crm.auth import allowed
from crm.ui.admin_panels import audit_panel, keys_panel, status_panel, users_panel
from crm.ui.auth import require_user
from crm.ui.data import get_database
from crm.ui.sending_rules_panel import dlt_panel, sending_rules_panel

user = require_user()  # signed out: the sign-in form, and nothing of this page

st.title("Settings")
if not allowed(user, "settings.view"):
    st.info(f"Settings are for admins. You are signed in as {user.role}.", icon=":material/lock:")
    st.stop()

db = get_database()
users_part, keys_part, rules_part, status_part, audit_part = st.tabs(
    ["Users", "API keys", "Sending rules", "Status", "Audit log"]
)
with users_part:
    users_panel(db, user)
with keys_part:
    keys_panel(db, user)
with rules_part:
    sending_rules_panel(db, user)
    dlt_panel(db, user)
with status_part:
    status_panel(db)
with audit_part:
    audit_panel(db)
