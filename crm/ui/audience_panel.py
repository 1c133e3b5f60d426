"""The live audience of a rule on the Segments page: its count and share, where it drops, its
top cities and spend, a sample, and the CSV export (written at a click, or prepared first
behind a progress bar when it is large)."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime

import plotly.graph_objects as go
import streamlit as st

from crm import analytics
from crm.analytics.analytic_copy import open_copy
from crm.analytics.audience_columns import COLUMNS
from crm.analytics.segment_preview import Preview
from crm.auth import allowed
from crm.auth.permissions import who_may
from crm.auth.users import User
from crm.formats.indian_numbers import as_text, format_count, group_indian
from crm.segment_builder import download
from crm.segment_builder.download import audience_csv
from crm.store.documents import Database
from crm.ui import theme

PREPARED_EXPORT = "seg_prepared_export"  # ((rule, columns), CSV bytes, time prepared)
EXPORT_DEFAULT = ["customer_id", "name", "email", "phone", "city", "total_spend", "order_count", "last_order_date"]


def _wrap(text: str, width: int = 38) -> str:
    return "<br>".join(textwrap.wrap(text, width)) or text


def waterfall_chart(result: Preview) -> go.Figure:
    """Each top-level condition: customers meeting it alone, and those left after it."""
    labels = [_wrap(f"{i + 1}. {step.label.removeprefix('Customers ')}") for i, step in enumerate(result.waterfall)]
    left = [step.remaining for step in result.waterfall]
    reached = "Left after this step" if result.combine == "and" else "Reached so far"
    fig = go.Figure(
        [
            go.Bar(
                name="Meeting this condition alone",
                y=labels,
                x=[s.alone for s in result.waterfall],
                orientation="h",
                marker_color=theme.ACCENT_LIGHT,
            ),
            go.Bar(
                name=reached,
                y=labels,
                x=left,
                orientation="h",
                marker_color=theme.ACCENT,
                text=[format_count(n) for n in left],
                textposition="auto",
            ),
        ]
    )
    if result.negated:
        fig.add_bar(
            name="Audience (the group is negated)",
            y=["Everyone else"],
            x=[result.count],
            orientation="h",
            marker_color=theme.WARNING,
            text=[format_count(result.count)],
        )
    fig.update_layout(
        barmode="group",
        height=120 + 70 * (len(labels) + result.negated),
        margin=dict(l=0, r=0, t=30, b=0),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0),
        yaxis=dict(autorange="reversed"),
        xaxis_title="Customers",
    )
    return fig


def spend_chart(result: Preview) -> go.Figure:
    def bin_label(low: int, high: int | None) -> str:
        return f"₹{group_indian(low)}+" if high is None else f"₹{group_indian(low)}–{group_indian(high)}"

    bins = result.spend_histogram
    fig = go.Figure(
        go.Bar(
            x=[bin_label(b.low_rupees, b.high_rupees) for b in bins],
            y=[b.customers for b in bins],
            marker_color=theme.ACCENT,
        )
    )
    fig.update_layout(
        height=280,
        margin=dict(l=0, r=0, t=10, b=0),
        yaxis_title="Customers",
        xaxis_title="Total spend on completed orders",
    )
    return fig


def show_preview(rule, english: str) -> Preview:
    with st.spinner("Counting..."):
        result = analytics.preview(rule)
    cols = st.columns(2, border=True)
    cols[0].metric("Customers in this segment", format_count(result.count))
    cols[1].metric(
        "Share of all customers",
        f"{result.share:.1%}",
        help=f"{format_count(result.count)} of {format_count(result.total_customers)}",
    )
    st.markdown(f"**In words:** {as_text(english)}")
    st.caption(f"As of {result.as_of.day} {result.as_of:%b %Y} (dates compare as UTC days)")
    chart, cities = st.columns([3, 2])
    with chart:
        st.caption("Where the audience drops (top-level conditions, in order)")
        st.plotly_chart(waterfall_chart(result), width="stretch", key="waterfall")
    with cities:
        st.caption("Top cities in this segment")
        if result.top_cities:
            st.dataframe(
                [{"City": c, "Customers": format_count(n)} for c, n in result.top_cities],
                hide_index=True,
                width="stretch",
            )
        else:
            st.write("No cities to show.")
    st.caption("Total spend of the customers in this segment")
    st.plotly_chart(spend_chart(result), width="stretch", key="spend")
    return result


def show_sample(result: Preview) -> None:
    st.caption(f"The first {len(result.sample)} customers of the segment, by customer ID")
    st.dataframe(
        result.sample,
        hide_index=True,
        width="stretch",
        column_config={
            "total_spend": st.column_config.NumberColumn("total_spend (₹)", format="%.2f"),
            "avg_order_value": st.column_config.NumberColumn("avg_order_value (₹)", format="%.2f"),
        },
    )


def show_export(rule_json: dict, count: int, *, user: User, db: Database) -> None:
    if not allowed(user, "data.export"):
        st.caption(f"Exporting customers' data is for {who_may('data.export')}; you are signed in as a {user.role}.")
        return
    own = [a.label for a in open_copy().attributes if a.label not in COLUMNS]  # custom attributes, by label
    columns = st.multiselect("Columns", [*COLUMNS, *own], default=[*EXPORT_DEFAULT, *own], key="export-columns")
    if not columns:
        st.info("Choose at least one column to export.")
        return
    text = json.dumps(rule_json, sort_keys=True)
    label = f"Download CSV ({format_count(count)} customers)"
    if count <= download.PREPARE_ABOVE_ROWS:
        # Written when the button is clicked (on its own thread), streaming to a temp file.
        st.download_button(
            label,
            data=lambda: audience_csv(text, columns, by=user, db=db),
            file_name="segment.csv",
            mime="text/csv",
            icon=":material/download:",
            on_click="ignore",
            key="export-download",
        )
        return
    wanted = (text, tuple(columns))
    prepared = st.session_state.get(PREPARED_EXPORT)
    if prepared is None or prepared[0] != wanted:
        if not st.button(
            f"Prepare CSV ({format_count(count)} customers)", icon=":material/table_view:", key="export-prepare"
        ):
            return
        bar = st.progress(0.0, text="Writing the CSV…")

        def show(written: int, total: int) -> None:
            bar.progress(
                min(1.0, written / max(total, 1)),
                text=f"Writing the CSV… {format_count(written)} of {format_count(total)} customers",
            )

        prepared = (
            wanted,
            audience_csv(text, columns, on_rows=show, by=user, db=db),
            datetime.now(UTC).astimezone().strftime("%H:%M:%S"),
        )
        st.session_state[PREPARED_EXPORT] = prepared
        bar.empty()
    st.download_button(
        label,
        data=prepared[1],
        file_name="segment.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
        key="export-download",
    )
    st.caption(f"Prepared at {prepared[2]}; change the rule or the columns to prepare it again.")
