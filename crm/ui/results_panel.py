"""A campaign's results on History: what it earned against its holdout, per variant, and the
cumulative conversion by day since the send (crm.campaigns.results)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from crm.campaigns.attribution import HOLDOUT, MESSAGED
from crm.campaigns.results import Results
from crm.formats.indian_numbers import format_count, format_inr, format_inr_short
from crm.ui import theme

COLOURS = {MESSAGED: theme.ACCENT, HOLDOUT: theme.NEUTRAL}


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _rupees(paise: float | None) -> str:
    return "–" if paise is None else format_inr(round(paise))


def results_panel(results: Results) -> None:
    st.markdown(f"**Results** · conversion within {results.campaign.window_days} days of the message")
    lift, m, h = results.lift, results.messaged, results.holdout
    (st.success if lift is not None and lift.significant and lift.points > 0 else st.info)(
        results.sentence, icon=":material/insights:"
    )
    window = results.campaign.window_days
    cols = st.columns(5, border=True)
    # Short labels: five metrics share the width; the help says what each counts.
    cols[0].metric(
        "Messaged",
        _rate(m.conversion_rate),
        help=f"Converted within {window} days: {format_count(m.converters)} of {format_count(m.recipients)}",
    )
    cols[1].metric(
        "Holdout",
        _rate(h.conversion_rate if h else None),
        help=f"Converted within {window} days: {format_count(h.converters)} of {format_count(h.recipients)}"
        if h
        else "No holdout: set one when you send to measure what the campaign caused",
    )
    cols[2].metric(
        "Lift",
        "–" if lift is None else f"{lift.points:+.1f} pts",
        help=None
        if lift is None
        else f"95% CI {lift.low:.1f} to {lift.high:.1f} points; p = {lift.p_value:.3g}"
        + ("" if results.relative_lift is None else f"; {results.relative_lift:+.0%} on the holdout's rate"),
    )
    cols[3].metric(
        "Revenue",
        format_inr_short(m.revenue_paise),
        help=f"Attributed to the messaged: {format_inr(m.revenue_paise)}",
    )
    incremental = results.incremental
    cols[4].metric(
        "Incremental",
        "–" if incremental is None else format_inr_short(round(incremental[0])),
        help=None
        if incremental is None
        else f"Revenue the messages caused: {_rupees(incremental[0])} (95% CI {_rupees(incremental[1])} to "
        f"{_rupees(incremental[2])})",
    )
    if len(results.variants) > 1:
        st.dataframe(variant_table(results), hide_index=True, width="stretch")
    if results.curve:
        st.plotly_chart(conversion_chart(results), width="stretch", key=f"conversion-{results.campaign.id}")
    st.caption(
        f"Window: {results.campaign.window_days} days. A conversion is a completed order within the window after "
        "the message (holdout: after sending started); a customer in two campaigns' windows counts for both, each "
        "campaign being measured against its own holdout. Orders arriving later count; cancelled ones stop counting."
    )


def variant_table(results: Results) -> pd.DataFrame:
    rows = []
    for i, (figures, vs) in enumerate(results.variants):
        rows.append(
            {
                "variant": i + 1,
                "recipients": figures.recipients,
                "converters": figures.converters,
                "conversion": _rate(figures.conversion_rate),
                "revenue": format_inr(figures.revenue_paise),
                "revenue per recipient": _rupees(figures.revenue_per_recipient_paise),
                "vs holdout": "–" if vs is None else f"{vs.points:+.1f} pts (95% CI {vs.low:.1f} to {vs.high:.1f})",
                "winner": "winner" if results.winner == i else "",
            }
        )
    return pd.DataFrame(rows)


def conversion_chart(results: Results) -> go.Figure:
    fig = go.Figure()
    for group, rates in results.curve.items():
        fig.add_trace(
            go.Scatter(
                x=list(range(1, len(rates) + 1)),
                y=[100 * r for r in rates],
                mode="lines+markers",
                name=group,
                line={"color": COLOURS[group], "shape": "hv"},
            )
        )
    fig.update_layout(
        margin=dict(l=0, r=0, t=10, b=0),
        height=260,
        xaxis_title="days since the message",
        yaxis_title="converted (%, cumulative)",
        legend_title_text="",
    )
    return fig
