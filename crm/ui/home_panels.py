"""The Home page's panels: the business at a glance, or the first steps in an empty workspace."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from crm.analytics.analytic_copy import AnalyticCopy
from crm.analytics.dashboard import ACTIVE_DAYS, Dashboard, load_dashboard
from crm.auth import allowed
from crm.auth.permissions import who_may
from crm.auth.users import User
from crm.demo import DemoSpec, load_demo
from crm.formats.indian_numbers import format_count, format_inr, format_inr_short
from crm.store.documents import Database
from crm.ui import theme
from crm.ui.errors import errors_shown

DEMO_SIZES = [DemoSpec(), DemoSpec(customers=1_000, orders=10_000)]


@st.cache_data(show_spinner="Adding up orders...", max_entries=8)
def cached_dashboard(db_key: str, version: str, today: str, _copy: AnalyticCopy) -> Dashboard:
    return load_dashboard(_copy.cursor(), datetime.fromisoformat(today).date())


def offer_first_steps(db: Database, user: User) -> None:
    """An empty workspace: load the demo shop (for those who may) or go and import."""
    st.info(
        "The workspace is empty. Load the demo shop to look around, or bring your own data.",
        icon=":material/waving_hand:",
    )
    if not allowed(user, "data.demo"):
        st.caption(
            f"Only {who_may('data.demo')} can load the demo data or import customers and orders; "
            f"you are signed in as a {user.role}."
        )
        return
    demo, own = st.columns(2, border=True)
    with demo:
        st.subheader("Load demo data")
        st.write(
            "An Indian retailer's customers and orders over three years, ending today: festive "
            "peaks, loyal and lapsed buyers, cancellations and refunds."
        )
        spec = st.selectbox(
            "Size",
            DEMO_SIZES,
            key="demo-size",
            format_func=lambda s: f"{format_count(s.customers)} customers, {format_count(s.orders)} orders",
        )
        if st.button("Load demo data", type="primary", icon=":material/download:"):
            bar = st.progress(0.0, text="Checking the demo records...")
            total = spec.customers + spec.orders

            def progress(kind: str, done: int, of: int) -> None:
                if kind == "campaign":
                    bar.progress(1.0, text="Preparing the dashboard and the demo's past campaign...")
                    return
                before = spec.customers if kind == "orders" else 0
                bar.progress(
                    (before + done) / total, text=f"Writing {kind}: {format_count(done)} of {format_count(of)}"
                )

            with errors_shown():
                load_demo(db, spec, progress=progress, by=user)
                st.rerun()
    with own:
        st.subheader("Import your own")
        st.write(
            "Upload customers and orders as CSV files; you map the columns and see every problem "
            "before anything is saved."
        )
        st.page_link("app_pages/data.py", label="Go to Data → Import", icon=":material/upload_file:")


def so_far(month: pd.Timestamp, today: date) -> str:
    """The current month's label: "Dec 2026 (1–7, so far)"."""
    return f"{month:%b %Y} (1–{today.day}, so far)"


def in_theme(fig: go.Figure) -> go.Figure:
    """A Home chart: bars in the accent colour, no outer margin, one height for both."""
    fig.update_layout(margin=dict(l=0, r=0, t=10, b=0), height=340)
    fig.update_traces(marker_color=theme.ACCENT)
    return fig


def show_dashboard(board: Dashboard) -> None:
    """Four KPI cards, revenue by month and customers by city."""
    kpis = board.kpis
    cols = st.columns(4, border=True)
    cols[0].metric("Customers", format_count(kpis.customers))
    cols[1].metric(
        "Orders",
        format_count(kpis.orders),
        help=", ".join(f"{status}: {format_count(n)}" for status, n in sorted(kpis.orders_by_status.items())),
    )
    cols[2].metric(
        "Revenue", format_inr_short(kpis.revenue_paise), help=f"{format_inr(kpis.revenue_paise)} from completed orders"
    )
    cols[3].metric(
        f"Active in the last {ACTIVE_DAYS} days",
        format_count(kpis.active_customers),
        help="Customers with a completed order in the last 30 days",
    )

    left, right = st.columns([3, 2], border=True)
    with left:
        st.subheader("Revenue by month")
        months = board.revenue_by_month
        today = board.today or datetime.now(UTC).date()
        if months.empty:
            st.caption("No completed orders yet.")
        else:
            # Lakh on the axis (how Indian teams read revenue), the exact rupees on hover.
            months = months.assign(
                lakh=months["revenue_paise"] / 1e7,
                revenue=months["revenue_paise"].map(format_inr),
                label=[so_far(m, today) if p else f"{m:%b %Y}" for m, p in zip(months["month"], months["partial"])],
            )
            fig = px.bar(
                months,
                x="month",
                y="lakh",
                custom_data=["label", "revenue", "orders"],
                labels={"month": "", "lakh": "Revenue (₹ lakh)"},
            )
            fig.update_traces(
                hovertemplate="%{customdata[0]}<br>%{customdata[1]}<br>%{customdata[2]} orders<extra></extra>"
            )
            in_theme(fig)
            if months["partial"].any():
                # The month so far: lighter and hatched, so it is not read as a fall in revenue.
                fig.update_traces(
                    marker_color=[theme.ACCENT_LIGHT if p else theme.ACCENT for p in months["partial"]],
                    marker_pattern_shape=["/" if p else "" for p in months["partial"]],
                )
            st.plotly_chart(fig, width="stretch")
            if months["partial"].any():
                st.caption(f"The last bar is {so_far(months['month'].iloc[-1], today)}: a month still under way.")
    with right:
        st.subheader("Customers by city")
        cities = board.customers_by_city
        if cities.empty:
            st.caption("No customers yet.")
        else:
            fig = px.bar(
                cities.iloc[::-1],
                x="customers",
                y="city",
                orientation="h",
                labels={"customers": "Customers", "city": ""},
            )
            st.plotly_chart(in_theme(fig), width="stretch")
