"""Streamlit entry point: page setup, navigation and the sidebar.

Each page guards itself with `require_user()` first: with `st.navigation` a rerun may run a
page without this script (Streamlit's AppTest does), so the gate cannot live here alone.
"""

import streamlit as st

from crm.auth.session import account_sidebar
from crm.ui.auth import require_user
from crm.ui.sidebar import render_data_status

st.set_page_config(page_title="Mini CRM", page_icon=":material/groups:", layout="wide")

navigation = st.navigation([
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/data.py", title="Data", icon=":material/database:"),
    st.Page("pages/segments.py", title="Segments", icon=":material/filter_alt:"),
    st.Page("pages/campaigns.py", title="Campaigns", icon=":material/campaign:"),
    st.Page("pages/history.py", title="History", icon=":material/history:"),
    st.Page("pages/settings.py", title="Settings", icon=":material/settings:"),
])
account_sidebar(require_user())
render_data_status()
navigation.run()
