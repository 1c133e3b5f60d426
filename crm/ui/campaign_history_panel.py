"""The History page's panels: every campaign with its counters, and one campaign's delivery,
log and templates, refreshing themselves while messages are pending."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import pandas as pd
import pyarrow as pa
import streamlit as st

from crm.analytics.analytic_copy import open_copy
from crm.auth import allowed
from crm.auth.users import User
from crm.campaigns import CHANNELS, Campaign, CampaignStats, campaign_stats, get_campaign, list_campaigns
from crm.campaigns.audience import EXCLUSIONS
from crm.campaigns.background import is_sending, send_error
from crm.campaigns.history import STATUSES, failure_reasons, log_csv, log_page, timeline
from crm.campaigns.model import CANCELLED, COMPLETED, SCHEDULED, status_label
from crm.campaigns.results import Results, members, results_for
from crm.campaigns.schedule import in_zone, local_time
from crm.config import load_settings
from crm.formats.indian_numbers import as_text, format_count
from crm.store.documents import Database
from crm.ui.delivery_charts import funnel, timeline_chart
from crm.ui.errors import errors_shown, show_error
from crm.ui.results_panel import results_panel
from crm.ui.sending import start_sending

LOG_ROWS = 200
RESULTS_SECONDS = 10
REFRESH = "2s"


def counters(db: Database, campaign: Campaign) -> CampaignStats:
    """Settled campaigns read their stored counters; the others are counted now."""
    stored = campaign.counters
    if campaign.status == COMPLETED and stored and stored.get("pending") == 0 and campaign.finished_at:
        return CampaignStats(campaign_id=campaign.id, **stored)
    return campaign_stats(db, campaign.id)


@st.cache_data(show_spinner=False, max_entries=64)
def cached_members(campaign_id: str, members_version: str, _db: Database) -> pa.Table:
    """A campaign's members, read from the log (the slow part: ~0.1 s per 3k members): once for
    a finished campaign, whose members no longer change; every RESULTS_SECONDS while it sends."""
    return members(_db, get_campaign(_db, campaign_id))


@st.cache_data(show_spinner=False, max_entries=256)
def cached_results(campaign_id: str, members_version: str, data_version: str, _db: Database) -> Results:
    """Results from the orders as they are now: computed again when the data changed (~15 ms)."""
    campaign = get_campaign(_db, campaign_id)
    return results_for(campaign, cached_members(campaign_id, members_version, _db))


def results_of(db: Database, campaign: Campaign) -> Results | None:
    if campaign.started_at is None:
        return None
    if campaign.finished_at is not None:
        members_version = campaign.finished_at.isoformat()
    else:
        members_version = f"live {int(time.time() // RESULTS_SECONDS)}"
    return cached_results(campaign.id, members_version, open_copy().data_version, db)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def campaign_table(db: Database) -> list[Campaign]:
    """Every campaign with its counters, newest first; the campaigns it listed."""
    campaigns = list_campaigns(db)
    zone = load_settings().time_zone
    rows = []
    for c in campaigns:
        stats = counters(db, c)
        rate = stats.delivery_rate
        results = results_of(db, c)
        lift = results.lift if results else None
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
                "holdout": stats.holdout,
                "revenue (₹)": results.messaged.revenue_paise / 100 if results else None,
                "lift (pts)": None if lift is None else round(lift.points, 1),
                "lift significant": None if lift is None else lift.significant,
                f"scheduled for ({zone})": local_time(c.scheduled_at, zone) if c.scheduled_at else "",
                "started (UTC)": when(c.started_at),
                "finished (UTC)": when(c.finished_at),
            }
        )
    if rows:
        st.dataframe(
            pd.DataFrame(rows),
            hide_index=True,
            width="stretch",
            column_config={
                "delivery rate": st.column_config.NumberColumn(format="%.1f%%"),
                "revenue (₹)": st.column_config.NumberColumn(format="%.2f"),
            },
        )
    return campaigns


def campaign_view(db: Database, campaign_id: str, user: User) -> None:
    """One campaign: its counters, funnel, timeline, failure reasons, log and templates."""
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
        show_error(f"Sending stopped: {error}")
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
    if stats.holdout:
        st.caption(f"Held out at random, not messaged: {format_count(stats.holdout)} ({campaign.holdout_percent}%).")
    excluded = ", ".join(f"{format_count(n)} {EXCLUSIONS[r]}" for r, n in campaign.excluded.items() if n)
    if excluded:
        st.caption(f"Not messaged: {excluded}.")
    if campaign.scheduled_at is not None and campaign.status in (SCHEDULED, CANCELLED):
        zone = load_settings().time_zone
        verb = "Scheduled for" if campaign.status == SCHEDULED else "Cancelled; it was scheduled for"
        if campaign.cancel_reason:
            verb = f"Cancelled when due ({as_text(campaign.cancel_reason)}); it was scheduled for"
        st.caption(f"{verb} {in_zone(campaign.scheduled_at, zone)}. The audience is taken when sending starts.")
    resumable = campaign.status not in (COMPLETED, SCHEDULED, CANCELLED)
    if resumable and not is_sending(campaign.id) and allowed(user, "campaign.send"):
        if st.button("Resume sending", icon=":material/play_arrow:", key=f"resume-{campaign.id}"):
            with errors_shown():
                start_sending(db, user, campaign.id)

    results = results_of(db, campaign)
    if results is not None:
        with st.container(border=True):
            results_panel(results)

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
    """Still sending or waiting for receipts: its view refreshes itself (a scheduled campaign
    waits, maybe for days: the page shows its start when next opened)."""
    if campaign.status in (SCHEDULED, CANCELLED):
        return False
    return campaign.status != COMPLETED or campaign.finished_at is None


def live_or_static(render: Callable[[], None], key: str, live: bool) -> Callable[[], None]:
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


def overview_panel(db: Database, campaigns: list[Campaign]) -> None:
    """The table of every campaign, refreshing itself while any of them is live."""

    def overview() -> None:
        with errors_shown():
            if not campaign_table(db):
                st.info("No campaigns yet. Compose one on the Campaigns page.", icon=":material/campaign:")
        # campaign_table's counting records a finish: read the campaigns again
        stop_refreshing_once_settled("history-live-overview", any(map(is_live, list_campaigns(db))))

    live_or_static(overview, "history-live-overview", any(map(is_live, campaigns)))()


def detail_panel(db: Database, campaign_id: str, user: User) -> None:
    """One campaign's view, refreshing itself until its last receipt is in."""

    def detail() -> None:
        with errors_shown():
            campaign_view(db, campaign_id, user)
        stop_refreshing_once_settled("history-live-detail", is_live(get_campaign(db, campaign_id)))

    # read again: the selected option may be the campaign as it was when first listed
    live_or_static(detail, "history-live-detail", is_live(get_campaign(db, campaign_id)))()
