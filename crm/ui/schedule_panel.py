"""The Campaigns page's scheduling: a date and a time (in the workspace time zone) to send a
checked draft later, and the list of scheduled campaigns with a new time or Cancel for each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import streamlit as st

from crm.auth import allowed
from crm.auth.users import User
from crm.campaigns import CHANNELS, CampaignDraft
from crm.campaigns.schedule import cancel_campaign, in_zone, list_scheduled, reschedule_campaign, schedule_campaign
from crm.campaigns.schedule import send_time as zoned_send_time
from crm.config import load_settings
from crm.formats.indian_numbers import as_text
from crm.store.documents import Database
from crm.ui.errors import errors_shown, show_error

DAY, TIME = "cmp_at_day", "cmp_at_time"
AUDIENCE_NOTE = (
    "The audience is taken when sending starts: consent and the segment's rule are read then, so "
    "customers who join or leave before that are counted as they are at that moment."
)


def _next_hour(zone: str) -> datetime:
    now = datetime.now(UTC).astimezone(ZoneInfo(zone))
    return (now + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)


def _when_inputs(zone: str, day_key: str, time_key: str, default: datetime) -> datetime:
    """A date and a time input, first showing `default` in `zone`; the UTC moment they name."""
    default = default.astimezone(ZoneInfo(zone))
    # Defaults kept in the session: a default that moved on every rerun would reset the widgets.
    st.session_state.setdefault(day_key, default.date())
    st.session_state.setdefault(time_key, default.time())
    left, right = st.columns(2)
    day = left.date_input(f"Send on ({zone})", key=day_key, format="YYYY-MM-DD")
    at = right.time_input(f"At ({zone})", key=time_key, step=timedelta(minutes=15))
    return zoned_send_time(day, at, zone)


def schedule_controls(db: Database, user: User, draft: CampaignDraft, ready: bool, named: bool) -> str | None:
    """ "Schedule" beside "Send campaign": the id of the campaign it scheduled on this run, if any."""
    if not allowed(user, "campaign.send"):
        return None
    zone = load_settings().time_zone
    with st.expander("Schedule instead of sending now", icon=":material/schedule:"):
        moment = _when_inputs(zone, DAY, TIME, _next_hour(zone))
        st.caption(AUDIENCE_NOTE)
        help_text = None if ready else "Run the check; it must pass for this exact audience and message"
        if not st.button("Schedule", disabled=not ready, help=help_text, icon=":material/event:"):
            return None
        if not named:
            show_error("Name the campaign before scheduling it.")
            return None
        campaign, _ = schedule_campaign(db, user, draft, moment, zone=zone)
        assert campaign.scheduled_at is not None
        st.success(f"Scheduled for {in_zone(campaign.scheduled_at, zone)}.", icon=":material/event_available:")
        return campaign.id


def scheduled_panel(db: Database, user: User) -> None:
    """Campaigns waiting for their time, each with its time in the workspace zone and Cancel."""
    zone = load_settings().time_zone
    campaigns = list_scheduled(db)
    if not campaigns:
        return
    st.subheader("Scheduled")
    st.caption(f"Times in {zone}. {AUDIENCE_NOTE}")
    may_change = allowed(user, "campaign.send")
    for campaign in campaigns:
        assert campaign.scheduled_at is not None
        with st.container(border=True):
            name, when, action = st.columns([3, 3, 2], vertical_alignment="center")
            name.markdown(f"**{as_text(campaign.name)}**  \n{CHANNELS[campaign.channel].label}")
            when.markdown(in_zone(campaign.scheduled_at, zone))
            if not may_change:
                continue
            if action.button("Cancel", key=f"cancel-{campaign.id}", icon=":material/event_busy:"):
                with errors_shown():
                    cancel_campaign(db, user, campaign.id)
                    st.rerun()
            with st.popover("Change the time"):
                moment = _when_inputs(zone, f"at-day-{campaign.id}", f"at-time-{campaign.id}", campaign.scheduled_at)
                if st.button("Save the time", key=f"reschedule-{campaign.id}"):
                    with errors_shown():
                        reschedule_campaign(db, user, campaign.id, moment, zone=zone)
                        st.rerun()
