"""Starting scheduled campaigns when they are due, from any number of processes.

`start_due(db, now, ...)` finds the scheduled campaigns whose `scheduled_at` is at or before
`now` and claims each through the dispatch lease (`Lease.claim(now)`: one conditional update
that also checks the time and the status), so when several schedulers look at the same moment
exactly one of them starts a campaign, and a campaign cancelled meanwhile is never started. The
claimed campaign is then sent by the ordinary dispatcher under the same lease owner. The person
who scheduled it must still be allowed to send when it is due: a campaign whose owner was
deactivated or lost `campaign.send` meanwhile is cancelled, with the reason, instead of sent.
`Scheduler` runs that check every few seconds in a thread (`python -m crm serve` starts
`python -m crm scheduler` for it; `python -m crm worker` runs one too).

Why no scheduler library: APScheduler, the well-kept choice, keeps its jobs in a job store of
its own, a second record of what is due beside the campaign documents, which a cancel or a new
time would have to keep in step (and which could disagree with them after a crash); and its
3.x job stores must not be shared between processes, so it would not coordinate several
schedulers anyway. Here the campaign document is the only record: the due check is one indexed
query, and the lease, which already keeps two dispatchers off one campaign, keeps two
schedulers off it too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import PyMongoError

from crm.auth import SystemPrincipal, allowed, audit
from crm.auth.users import get_user
from crm.campaigns.dispatcher import dispatch
from crm.campaigns.lease import Lease, new_owner_id
from crm.campaigns.model import CANCELLED, SCHEDULED
from crm.campaigns.repository import get_campaign, object_id
from crm.config import Settings
from crm.errors import Conflict, CRMError, NotFound
from crm.store.clock import utc_now
from crm.store.documents import Database

log = logging.getLogger("crm.campaigns.scheduler")
INTERVAL_SECONDS = 5.0
# Who starts a due campaign in the audit log; its role is none of ROLES, so it may do nothing else.
# The person who scheduled it was checked for `campaign.send` when scheduling.
SCHEDULER = SystemPrincipal("scheduler", "system")

Start = Callable[[str, str], None]  # (campaign id, lease owner): send a campaign just claimed


def due_campaigns(db: Database, now: datetime) -> list[str]:
    """Ids of the scheduled campaigns due at `now`, the longest waiting first."""
    cursor = db.campaigns.find({"status": SCHEDULED, "scheduled_at": {"$lte": now}}, {"_id": 1})
    return [str(doc["_id"]) for doc in cursor.sort("scheduled_at", ASCENDING)]


def start_due(db: Database, now: datetime, owner: str, start: Start, lease_seconds: int = 60) -> list[str]:
    """Claim every campaign due at `now` for `owner` and hand each to `start`; the ids it started
    (none that another scheduler claimed first or that was cancelled meanwhile)."""
    started = []
    for campaign_id in due_campaigns(db, now):
        if not _owner_may_still_send(db, campaign_id):
            continue
        try:
            campaign = Lease(db, campaign_id, lease_seconds, owner).claim(now)
        except (Conflict, NotFound):
            continue  # another scheduler has it, or it was cancelled after we looked
        audit.record(
            SCHEDULER,
            "campaign.start",
            campaign_id,
            {"name": campaign.name, "scheduled_by": campaign.owner, "scheduled_at": _iso(campaign.scheduled_at)},
            db=db,
        )
        started.append(campaign_id)
        start(campaign_id, owner)
    return started


def _owner_may_still_send(db: Database, campaign_id: str) -> bool:
    """False (and the campaign cancelled, saying why) when the account that scheduled it was
    deactivated or may no longer send. An owner with no account is the operator (the command
    line), who always may."""
    owner = get_campaign(db, campaign_id).owner or ""
    user = get_user(owner, db=db)
    if user is None or allowed(user, "campaign.send"):
        return True
    stamp = utc_now()
    reason = f"{owner} ({user.role}{'' if user.active else ', deactivated'}) may no longer send campaigns"
    doc = db.campaigns.find_one_and_update(
        {"_id": object_id(campaign_id), "status": SCHEDULED},
        {"$set": {"status": CANCELLED, "cancelled_at": stamp, "cancel_reason": reason, "updated_at": stamp}},
        return_document=ReturnDocument.AFTER,
    )
    if doc is not None:
        audit.record(SCHEDULER, "campaign.cancel", campaign_id, {"name": doc["name"], "reason": reason}, db=db)
        log.warning("scheduled campaign %s cancelled: %s", campaign_id, reason)
    return False


class Scheduler:
    """Every `interval` seconds, start what is due and send it in a thread of this process.

    `vendor_url` is asked for only when a campaign starts (the edge may start the in-process
    mock vendor then)."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        vendor_url: Callable[[], str],
        interval: float = INTERVAL_SECONDS,
        owner: str | None = None,
    ):
        self.db, self.settings, self.vendor_url, self.interval = db, settings, vendor_url, interval
        self.owner = owner or new_owner_id()
        self.sending: dict[str, threading.Thread] = {}

    def tick(self, now: datetime | None = None) -> list[str]:
        """One due check; the campaigns it started."""
        return start_due(self.db, now or utc_now(), self.owner, self._send, self.settings.campaign_lease_seconds)

    def _send(self, campaign_id: str, owner: str) -> None:
        def run() -> None:
            try:
                dispatch(self.db, campaign_id, self.settings, self.vendor_url(), owner=owner)
            except CRMError as exc:
                log.warning("scheduled campaign %s stopped: %s", campaign_id, exc)
            except Exception:  # the lease runs out; History offers to resume it
                log.exception("scheduled campaign %s stopped", campaign_id)

        thread = threading.Thread(target=run, name=f"scheduled-{campaign_id}", daemon=True)
        # a long-lived scheduler keeps only the sends still running
        self.sending = {cid: t for cid, t in self.sending.items() if t.is_alive()}
        self.sending[campaign_id] = thread
        thread.start()

    def run(self, stop: threading.Event) -> None:
        """Check until `stop` is set; a database that does not answer is tried again next time."""
        while not stop.is_set():
            try:
                for campaign_id in self.tick():
                    log.info("started scheduled campaign %s", campaign_id)
            except (CRMError, PyMongoError) as exc:
                log.warning("due check failed (%s); trying again in %.0f s", exc, self.interval)
            stop.wait(self.interval)

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(stop,), name="campaign-scheduler", daemon=True)
        thread.start()
        return thread

    def busy(self) -> bool:
        """Some campaign this scheduler started is still being sent."""
        return any(thread.is_alive() for thread in self.sending.values())


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
