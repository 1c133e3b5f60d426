"""Streamlit entry point: page setup, navigation and the sidebar.

Signed out, the navigation is hidden and every address shows the sign-in form: nothing of the
app is listed, and a link to a page opens that page once signed in. Each page still guards
itself with `require_user()` first, so a page run without this script shows nothing private.
"""

import streamlit as st

from crm.ui.auth import require_user
from crm.ui.session import account_sidebar, current_user
from crm.ui.sidebar import render_data_status

st.set_page_config(page_title="Mini CRM", page_icon=":material/groups:", layout="wide")

PAGES = [
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/data.py", title="Data", icon=":material/database:"),
    st.Page("app_pages/segments.py", title="Segments", icon=":material/filter_alt:"),
    st.Page("app_pages/campaigns.py", title="Campaigns", icon=":material/campaign:"),
    st.Page("app_pages/history.py", title="History", icon=":material/history:"),
    st.Page("app_pages/settings.py", title="Settings", icon=":material/settings:"),
]

signed_in = current_user() is not None
# Signed out, the page asked for is remembered but not run, and no page is listed.
navigation = st.navigation(PAGES, position="sidebar" if signed_in else "hidden")
user = require_user()  # signed out: the sign-in form, and the run ends here
if not signed_in:
    st.rerun()  # signed in during this run: again, with the navigation, on the page asked for
account_sidebar(user)
render_data_status()
navigation.run()
