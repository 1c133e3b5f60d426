"""Home: the business at a glance, or a way in when the workspace is still empty."""

from datetime import UTC, datetime

import streamlit as st

from crm import analytics
from crm.analytics.dashboard import is_empty
from crm.ui.auth import require_user
from crm.ui.data import get_database
from crm.ui.errors import errors_shown
from crm.ui.home_panels import cached_dashboard, offer_first_steps, show_dashboard

user = require_user()  # signed out: the sign-in form, and nothing of this page

st.title("Home")
st.caption("Revenue and activity count completed orders; cancelled and refunded ones are left out.")
db = get_database()
with errors_shown():
    if is_empty(db):
        offer_first_steps(db, user)
    else:
        today = datetime.now(UTC).date().isoformat()
        key = f"{db.client.address}/{db.name}"
        with st.spinner("Preparing the analytic copy..."):
            copy = analytics.open_copy()  # opened once per process, then refreshed when data changed
        show_dashboard(cached_dashboard(key, copy.data_version, today, copy))
