"""A campaign's delivery in pictures: the funnel from audience to delivered, and the cumulative
timeline of sent, delivered and failed messages."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from crm.campaigns import CampaignStats
from crm.ui import theme


def funnel(stats: CampaignStats) -> go.Figure:
    fig = go.Figure(
        go.Funnel(
            y=["Audience", "Sent", "Delivered"],
            x=[stats.audience, stats.sent, stats.delivered],
            marker={"color": theme.ACCENT},
            textinfo="value+percent initial",
        )
    )
    fig.update_layout(margin=dict(l=0, r=0, t=10, b=0), height=260)
    return fig


def timeline_chart(frame: pd.DataFrame) -> go.Figure:
    # Counts were zero the second before the first event: without that point a campaign settled
    # within one second has one point per line, which plotly draws as nothing.
    start = pd.DataFrame(
        [{"time": frame["time"].min() - pd.Timedelta(seconds=1), "sent": 0, "delivered": 0, "failed": 0}]
    )
    long = pd.concat([start, frame], ignore_index=True).melt(id_vars="time", var_name="messages", value_name="count")
    fig = px.line(
        long,
        x="time",
        y="count",
        color="messages",
        line_shape="hv",
        markers=True,
        color_discrete_map=theme.DELIVERY_COLOURS,
        labels={"time": "UTC", "count": "Messages (cumulative)"},
    )
    fig.update_layout(margin=dict(l=0, r=0, t=10, b=0), height=260, legend_title_text="")
    # Times are whole seconds: no millisecond ticks, and on a short run no tick between two seconds.
    short = long["time"].max() - long["time"].min() <= pd.Timedelta(seconds=10)
    fig.update_xaxes(tickformat="%H:%M:%S", dtick=1000 if short else None)
    return fig
