"""The sidebar's data status: where the data lives and how much there is."""

from __future__ import annotations

import streamlit as st

from crm.config import load_settings
from crm.formats.indian_numbers import format_count
from crm.ui.data import get_database


def render_data_status() -> None:
    settings = load_settings()
    db = get_database()
    customers = db.customers.estimated_document_count()
    orders = db.orders.estimated_document_count()
    with st.sidebar:
        st.caption("Data")
        st.markdown(f"**{format_count(customers)}** customers · **{format_count(orders)}** orders")
        where = "embedded database" if settings.embedded else "MongoDB at MONGODB_URI"
        st.caption(f"{where} · database `{settings.db_name}`")
