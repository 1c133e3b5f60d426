"""History: every campaign with its counters, and one campaign's funnel, timeline and log."""

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from crm.auth import allowed
from crm.campaigns import CHANNELS, Campaign, CampaignStats, campaign_stats, get_campaign, list_campaigns
from crm.campaigns.audience import EXCLUSIONS
from crm.campaigns.background import is_sending, send_error
from crm.campaigns.history import STATUSES, failure_reasons, log_csv, log_page, timeline
from crm.campaigns.model import COMPLETED, status_label
from crm.formats.indian_numbers import as_text, format_count
from crm.ui import theme
from crm.ui.auth import require_user
from crm.ui.data import get_database
from crm.ui.errors import errors_shown
from crm.ui.sending import start_sending

user = require_user()  # signed out: the sign-in form, and nothing of this page

LOG_ROWS = 200
REFRESH = "2s"


def counters(db, campaign: Campaign) -> CampaignStats:
    """Settled campaigns read their stored counters; the others are counted now."""
    stored = campaign.counters
    if campaign.status == COMPLETED and stored and stored.get("pending") == 0 and campaign.finished_at:
        return CampaignStats(campaign_id=campaign.id, **stored)
    return campaign_stats(db, campaign.id)


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def campaign_table(db) -> list[Campaign]:
    campaigns = list_campaigns(db)
    rows = []
    for c in campaigns:
        stats = counters(db, c)
        rate = stats.delivery_rate
        # Owner before status: "awaiting receipts (N outstanding)" widens its column.
        rows.append(
            {
                "campaign": c.name,
                "channel": CHANNELS[c.channel].label,
                "owner": c.owner or "",
                "status": status_label(c.status, stats.pending),
                "audience": stats.audience,
                "sent": stats.sent,
                "delivered": stats.delivered,
                "failed": stats.failed,
                "pending": stats.pending,
                "delivery rate": None if rate is None else round(100 * rate, 1),
                "started (UTC)": _when(c.started_at),
                "finished (UTC)": _when(c.finished_at),
            }
        )
    if rows:
        st.dataframe(
            pd.DataFrame(rows),
            hide_index=True,
            width="stretch",
            column_config={"delivery rate": st.column_config.NumberColumn(format="%.1f%%")},
        )
    return campaigns


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


def campaign_view(db, campaign_id: str) -> None:
    stats = campaign_stats(db, campaign_id)  # first: it completes a campaign whose last receipt came
    campaign = get_campaign(db, campaign_id)
    st.subheader(as_text(campaign.name), anchor=False)
    st.caption(
        f"{CHANNELS[campaign.channel].label} · {status_label(campaign.status, stats.pending)} · "
        f"{as_text(campaign.description)}"
        + (f" · objective: {as_text(campaign.objective)}" if campaign.objective else "")
    )
    error = send_error(campaign.id)
    if error:
        st.error(f"Sending stopped: {error}", icon=":material/error:")
    cols = st.columns(6, border=True)
    rate = stats.delivery_rate
    for col, (label, value) in zip(
        cols,
        [
            ("Audience", stats.audience),
            ("Sent", stats.sent),
            ("Delivered", stats.delivered),
            ("Failed", stats.failed),
            ("Pending", stats.pending),
        ],
    ):
        col.metric(label, format_count(value))
    cols[5].metric("Delivery rate", "–" if rate is None else f"{100 * rate:.1f}%")
    excluded = ", ".join(f"{format_count(n)} {EXCLUSIONS[r]}" for r, n in campaign.excluded.items() if n)
    if excluded:
        st.caption(f"Not messaged: {excluded}.")
    if campaign.status != COMPLETED and not is_sending(campaign.id) and allowed(user, "campaign.send"):
        if st.button("Resume sending", icon=":material/play_arrow:", key=f"resume-{campaign.id}"):
            with errors_shown():
                start_sending(db, user, campaign.id)

    left, right = st.columns(2, border=True)
    with left:
        st.markdown("**Delivery funnel**")
        st.plotly_chart(funnel(stats), width="stretch", key=f"funnel-{campaign.id}")
    with right:
        st.markdown("**Timeline**")
        # The counters say whether anything happened; the timeline (counted the same way) says when.
        if stats.sent == 0 and stats.delivered + stats.failed == 0:
            st.caption("Nothing sent yet.")
        else:
            st.plotly_chart(timeline_chart(timeline(db, campaign.id)), width="stretch", key=f"timeline-{campaign.id}")

    reasons = failure_reasons(db, campaign.id)
    if not reasons.empty:
        st.markdown("**Failure reasons**")
        st.dataframe(reasons, hide_index=True, width="stretch")

    st.markdown("**Communication log**")
    filters = st.columns([2, 3])
    statuses = filters[0].multiselect("Status", STATUSES, key=f"log-status-{campaign.id}")
    search = filters[1].text_input("Search a customer (id, phone or email)", key=f"log-search-{campaign.id}")
    page, total = log_page(db, campaign.id, statuses, search, limit=LOG_ROWS)
    st.caption(f"{format_count(total)} message(s)" + (f"; the first {LOG_ROWS} shown" if total > LOG_ROWS else ""))
    st.dataframe(page, hide_index=True, width="stretch")
    # A callable: the CSV is built when someone clicks, not on every refresh.
    if allowed(user, "data.export"):
        st.download_button(
            "Download the log (CSV)",
            lambda: log_csv(db, campaign.id, statuses, search, by=user),
            file_name=f"campaign-{campaign.id}-log.csv",
            mime="text/csv",
            icon=":material/download:",
            key=f"log-csv-{campaign.id}",
        )
    with st.expander("Message templates"):
        for template in campaign.templates:
            st.code(template, language=None)


def is_live(campaign: Campaign) -> bool:
    """Still sending or waiting for receipts: its view refreshes itself."""
    return campaign.status != COMPLETED or campaign.finished_at is None


def live_or_static(render, key: str, live: bool):
    """Render inside a fragment that reruns every REFRESH while messages are pending; the
    session remembers under `key` that it does."""
    st.session_state[key] = live
    return st.fragment(run_every=REFRESH if live else None)(render)


def stop_refreshing_once_settled(key: str, live_now: bool) -> None:
    # A fragment's timer is fixed when the page runs: without a full rerun it would keep
    # refreshing a settled campaign (and race the clicks on its filters and download button).
    # The flag lives in the session, not the closure, so a timer run queued before the rerun
    # does not ask for another one.
    if st.session_state.get(key) and not live_now:
        st.session_state[key] = False
        st.rerun()


st.title("Campaign history")
db = get_database()


with errors_shown():
    campaigns = list_campaigns(db)
    any_live = any(map(is_live, campaigns))

    def overview() -> None:
        with errors_shown():
            if not campaign_table(db):
                st.info("No campaigns yet. Compose one on the Campaigns page.", icon=":material/campaign:")
        # campaign_table's counting records a finish: read the campaigns again
        stop_refreshing_once_settled("history-live-overview", any(map(is_live, list_campaigns(db))))

    live_or_static(overview, "history-live-overview", any_live)()
    if campaigns:
        chosen = st.selectbox(
            "Campaign", campaigns, key="history-campaign", format_func=lambda c: f"{c.name} · {_when(c.created_at)}"
        )

        def detail() -> None:
            with errors_shown():
                campaign_view(db, chosen.id)
            stop_refreshing_once_settled("history-live-detail", is_live(get_campaign(db, chosen.id)))

        # read again: the selected option may be the campaign as it was when first listed
        live_or_static(detail, "history-live-detail", is_live(get_campaign(db, chosen.id)))()
