"""Scheduling a campaign: create it to start at a time, move that time, or call it off.

A scheduled campaign passes the same pre-send check as one sent at once, but its audience is
taken when sending starts (the snapshot happens at dispatch), and its rule is evaluated as of
the send date unless the draft names one. Times are entered in the workspace time zone and
stored in UTC. Every function that acts checks `campaign.send` itself and is audited; a cancel
or a new time applies only while the campaign is still `scheduled` (one conditional update, so
it never races the scheduler's claim, which moves it to `sending`).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pymongo import ASCENDING, ReturnDocument

from crm.auth import Principal, audit, require
from crm.campaigns.check import CheckReport, check_in_workspace
from crm.campaigns.model import CANCELLED, SCHEDULED, Campaign, CampaignDraft
from crm.campaigns.repository import get_campaign, insert_campaign, object_id
from crm.errors import Conflict, InvalidInput
from crm.store.clock import utc_now
from crm.store.documents import Database

MAX_DAYS_AHEAD = 366
WHERE = "send time"
_HAS_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}")


def parse_send_time(text: str, zone: str) -> datetime:
    """ "2026-12-25 10:00" (in `zone`, the workspace time zone) or an ISO time with an offset
    ("2026-12-25T10:00+05:30", "...Z") -> an aware UTC datetime."""
    value = (text or "").strip()
    try:
        if not _HAS_TIME.match(value):
            raise ValueError
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            WHERE,
            f"{value[:40]!r} is not a date and time; write it as YYYY-MM-DD HH:MM in {zone} "
            "(e.g. 2026-12-25 10:00) or as ISO 8601 with an offset (2026-12-25T10:00+05:30)",
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(zone))
    return parsed.astimezone(UTC)


def send_time(day: date, at: time, zone: str) -> datetime:
    """A date and a time of day as read in `zone` (the page's two inputs) -> aware UTC."""
    return datetime.combine(day, at, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def in_zone(moment: datetime, zone: str) -> str:
    """A stored time as people here read it: "2026-12-25 10:00 Asia/Kolkata"."""
    return f"{local_time(moment, zone)} {zone}"


def local_time(moment: datetime, zone: str) -> str:
    """A stored time on the clock of `zone`: "2026-12-25 10:00"."""
    return f"{moment.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M}"


def _due_time(at: datetime, now: datetime | None, zone: str) -> datetime:
    """The time to store (UTC, to the millisecond), or InvalidInput saying how to fix it."""
    if at.tzinfo is None:
        raise InvalidInput(WHERE, "give the time with its time zone (the workspace's, or an offset)")
    now = now or utc_now()
    at = at.astimezone(UTC)
    if at <= now:
        raise InvalidInput(
            WHERE,
            f"{in_zone(at, zone)} is in the past (it is now {in_zone(now, zone)}); choose a later time, "
            "or send the campaign now",
        )
    if at > now + timedelta(days=MAX_DAYS_AHEAD):
        raise InvalidInput(WHERE, f"{in_zone(at, zone)} is more than a year ahead; choose a time within a year")
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def schedule_campaign(
    db: Database,
    user: Principal,
    draft: CampaignDraft,
    at: datetime,
    *,
    zone: str = "UTC",
    now: datetime | None = None,
) -> tuple[Campaign, CheckReport]:
    """Run the pre-send check and, when it passes, create the campaign to start at `at`."""
    require(user, "campaign.send")
    scheduled_at = _due_time(at, now, zone)
    if draft.as_of is None:  # the rule's "today" is the day it is sent, as for a campaign sent now
        draft = draft.model_copy(update={"as_of": scheduled_at.date()})
    report = check_in_workspace(db, draft)
    report.raise_if_failed()
    campaign = insert_campaign(db, draft, report, owner=user.username, scheduled_at=scheduled_at)
    audit.record(
        user,
        "campaign.schedule",
        campaign.id,
        {"name": campaign.name, "channel": campaign.channel, "scheduled_at": scheduled_at.isoformat()},
        db=db,
    )
    return campaign, report


def reschedule_campaign(
    db: Database, user: Principal, campaign_id: str, at: datetime, *, zone: str = "UTC", now: datetime | None = None
) -> Campaign:
    """Move a scheduled campaign to another time; refused once it has started."""
    require(user, "campaign.send")
    scheduled_at = _due_time(at, now, zone)
    current = get_campaign(db, campaign_id)
    changes: dict[str, object] = {"scheduled_at": scheduled_at, "updated_at": utc_now()}
    if current.scheduled_at is not None and current.as_of == current.scheduled_at.date():
        changes["as_of"] = scheduled_at.date().isoformat()  # the rule's day moves with the send
    doc = db.campaigns.find_one_and_update(
        {"_id": object_id(campaign_id), "status": SCHEDULED}, {"$set": changes}, return_document=ReturnDocument.AFTER
    )
    if doc is None:
        raise _not_scheduled(db, campaign_id, "rescheduled")
    audit.record(
        user,
        "campaign.reschedule",
        campaign_id,
        {"name": current.name, "from": _iso(current.scheduled_at), "scheduled_at": scheduled_at.isoformat()},
        db=db,
    )
    return Campaign.from_document(doc)


def cancel_campaign(db: Database, user: Principal, campaign_id: str) -> Campaign:
    """Call off a scheduled campaign before it starts; refused once it has started."""
    require(user, "campaign.send")
    stamp = utc_now()
    doc = db.campaigns.find_one_and_update(
        {"_id": object_id(campaign_id), "status": SCHEDULED},
        {"$set": {"status": CANCELLED, "cancelled_at": stamp, "updated_at": stamp}},
        return_document=ReturnDocument.AFTER,
    )
    if doc is None:
        raise _not_scheduled(db, campaign_id, "cancelled")
    campaign = Campaign.from_document(doc)
    details = {"name": campaign.name, "scheduled_at": _iso(campaign.scheduled_at)}
    audit.record(user, "campaign.cancel", campaign_id, details, db=db)
    return campaign


def list_scheduled(db: Database) -> list[Campaign]:
    """Campaigns waiting for their time, soonest first."""
    cursor = db.campaigns.find({"status": SCHEDULED}).sort("scheduled_at", ASCENDING)
    return [Campaign.from_document(doc) for doc in cursor]


def _not_scheduled(db: Database, campaign_id: str, what: str) -> Conflict:
    """Why a campaign can no longer be `what` (NotFound when there is no such campaign)."""
    current = get_campaign(db, campaign_id)
    if current.status == CANCELLED:
        return Conflict(f"campaign {campaign_id} was already cancelled")
    if current.started_at is not None:
        return Conflict(
            f"campaign {campaign_id} started sending at {current.started_at:%Y-%m-%d %H:%M} UTC; "
            f"it can no longer be {what} (follow it with `campaign stats {campaign_id}`)"
        )
    return Conflict(f"campaign {campaign_id} is {current.status}, not scheduled; it cannot be {what}")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
