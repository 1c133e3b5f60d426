"""What the CLI and the pages call: compose (check, then create), send or resume, wait, stats.

Both acting functions check the user's role themselves (`campaign.send`), so a hidden button is
never the only protection, and record what was done in the audit log.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from crm.auth import Principal, audit, require
from crm.campaigns.check import CheckReport, check_in_workspace
from crm.campaigns.dispatcher import Progress, dispatch
from crm.campaigns.model import Campaign, CampaignDraft, CampaignStats
from crm.campaigns.receipt_journal import apply_journal
from crm.campaigns.repository import campaign_stats, get_campaign, insert_campaign
from crm.config import Settings
from crm.errors import Unavailable
from crm.store.documents import Database

STALL_SECONDS = 120
RECOVER_SECONDS = 10  # pending count still for this long: apply what the receipt journal holds


def compose_campaign(db: Database, user: Principal, draft: CampaignDraft) -> tuple[Campaign, CheckReport]:
    """Run the pre-send check and, when it passes, create the campaign (status draft)."""
    require(user, "campaign.send")
    report = check_in_workspace(db, draft)
    report.raise_if_failed()
    campaign = insert_campaign(db, draft, report, owner=user.username)
    audit.record(
        user,
        "campaign.create",
        campaign.id,
        {"name": campaign.name, "channel": campaign.channel, "recipients": report.recipients},
        db=db,
    )
    return campaign, report


def send_campaign(
    db: Database,
    user: Principal,
    campaign_id: str,
    vendor_url: str,
    settings: Settings,
    progress: Progress | None = None,
) -> CampaignStats:
    """Send (or resume) a campaign in this process to the vendor at `vendor_url`; returns the
    counters when dispatch ends."""
    require(user, "campaign.send")
    campaign = get_campaign(db, campaign_id)
    action = "campaign.send" if campaign.started_at is None else "campaign.resume"
    audit.record(user, action, campaign_id, {"name": campaign.name}, db=db)
    dispatch(db, campaign_id, settings, vendor_url, progress)
    return campaign_stats(db, campaign_id)


def wait_until_settled(
    db: Database,
    campaign_id: str,
    on_change: Callable[[CampaignStats], None] | None = None,
    stall_seconds: float = STALL_SECONDS,
    poll_seconds: float = 0.25,
) -> CampaignStats:
    """Block until no message is pending; Unavailable if receipts stop coming for `stall_seconds`."""
    last, changed_at, recovered_for = None, time.monotonic(), None
    while True:
        asked = time.monotonic()
        stats = campaign_stats(db, campaign_id)
        # Counting a large log takes the server a while (~2.5 s at 100k rows on the embedded one):
        # wait at least twice that long, so polling never takes more than a third of its time.
        pause = max(poll_seconds, 2 * (time.monotonic() - asked))
        if stats != last:
            last, changed_at = stats, time.monotonic()
            if on_change:
                on_change(stats)
        if stats.pending == 0 and get_campaign(db, campaign_id).snapshot_done:
            return stats  # every row written and none of them pending
        still = time.monotonic() - changed_at
        if still > RECOVER_SECONDS and recovered_for != changed_at:
            recovered_for = changed_at  # once per stall: receipts stored by a process that died before applying them
            apply_journal(db, [campaign_id])
        if still > stall_seconds:
            raise Unavailable(
                f"campaign {campaign_id}: no receipt for {stall_seconds:.0f} s with "
                f"{stats.pending} message(s) pending; is the vendor reachable?"
            )
        time.sleep(pause)
