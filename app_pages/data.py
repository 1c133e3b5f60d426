"""Data: import CSV files (map columns, check, then write) and browse customers and orders."""

import streamlit as st

from crm.ui.auth import require_user
from crm.ui.browse_panel import browse_panel
from crm.ui.data import get_database
from crm.ui.errors import errors_shown
from crm.ui.import_panel import import_panel

user = require_user()  # signed out: the sign-in form, and nothing of this page

st.title("Data")
db = get_database()
import_, customers, orders = st.tabs(["Import", "Customers", "Orders"])
with import_, errors_shown():
    import_panel(db, user)
with customers, errors_shown():
    browse_panel(db, "customers", user)
with orders, errors_shown():
    browse_panel(db, "orders", user)
