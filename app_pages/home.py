"""Home: the business at a glance, or a way in when the workspace is still empty."""

from datetime import UTC, datetime

import plotly.express as px
import streamlit as st

from crm import analytics
from crm.analytics.dashboard import ACTIVE_DAYS, Dashboard, is_empty, load_dashboard
from crm.auth import allowed
from crm.auth.permissions import who_may
from crm.demo import DemoSpec, load_demo
from crm.formats.indian_numbers import format_count, format_inr, format_inr_short
from crm.ui import theme
from crm.ui.auth import require_user
from crm.ui.data import get_database
from crm.ui.errors import errors_shown

user = require_user()  # signed out: the sign-in form, and nothing of this page

DEMO_SIZES = [DemoSpec(), DemoSpec(customers=1_000, orders=10_000)]


@st.cache_data(show_spinner="Adding up orders...", max_entries=8)
def cached_dashboard(db_key: str, version: str, today: str, _copy) -> Dashboard:
    return load_dashboard(_copy.cursor(), datetime.fromisoformat(today).date())


def offer_first_steps(db) -> None:
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
                before = spec.customers if kind == "orders" else 0
                bar.progress(
                    (before + done) / total, text=f"Writing {kind}: {format_count(done)} of {format_count(of)}"
                )

            with errors_shown():
                load_demo(db, spec, progress=progress, by=user)
                bar.progress(1.0, text="Preparing the dashboard...")
                analytics.rebuild()
                st.rerun()
    with own:
        st.subheader("Import your own")
        st.write(
            "Upload customers and orders as CSV files; you map the columns and see every problem "
            "before anything is saved."
        )
        st.page_link("app_pages/data.py", label="Go to Data → Import", icon=":material/upload_file:")


def show_dashboard(board: Dashboard) -> None:
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
        if months.empty:
            st.caption("No completed orders yet.")
        else:
            # Lakh on the axis (how Indian teams read revenue), the exact rupees on hover.
            months = months.assign(
                lakh=months["revenue_paise"] / 1e7,
                revenue=months["revenue_paise"].map(format_inr),
                label=months["month"].dt.strftime("%b %Y"),
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
            fig.update_layout(margin=dict(l=0, r=0, t=10, b=0), height=340)
            fig.update_traces(marker_color=theme.ACCENT)
            st.plotly_chart(fig, width="stretch")
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
            fig.update_layout(margin=dict(l=0, r=0, t=10, b=0), height=340)
            fig.update_traces(marker_color=theme.ACCENT)
            st.plotly_chart(fig, width="stretch")


st.title("Home")
st.caption("Revenue and activity count completed orders; cancelled and refunded ones are left out.")
db = get_database()
with errors_shown():
    if is_empty(db):
        offer_first_steps(db)
    else:
        today = datetime.now(UTC).date().isoformat()
        key = f"{db.client.address}/{db.name}"
        with st.spinner("Preparing the analytic copy..."):
            copy = analytics.open_copy()  # opened once per process, then refreshed when data changed
        show_dashboard(cached_dashboard(key, copy.data_version, today, copy))
