"""Campaign documents in MongoDB, and their counters derived from communication_log.

Counters are never kept as increments: they are counted from the log rows by one aggregation
(indexed on campaign_id + status), so a duplicate or lost update can never make them drift.
The last counts are copied onto the campaign document for listing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import DESCENDING

from crm.campaigns.check import CheckReport
from crm.campaigns.model import (
    AWAITING,
    COMPLETED,
    DELIVERED,
    DRAFT,
    FAILED,
    HOLDOUT,
    PENDING,
    SCHEDULED,
    SENT,
    Campaign,
    CampaignDraft,
    CampaignStats,
)
from crm.errors import NotFound
from crm.ingest.attribute_registry import workspace_catalogue
from crm.store.clock import utc_now
from crm.store.documents import Database
from crm.store.ids import parse_object_id


def object_id(campaign_id: str) -> ObjectId:
    return parse_object_id(campaign_id, "campaign")


def insert_campaign(
    db: Database,
    draft: CampaignDraft,
    report: CheckReport,
    owner: str,
    *,
    campaign_id: ObjectId | None = None,
    created_at: datetime | None = None,
    scheduled_at: datetime | None = None,
) -> Campaign:
    """A new draft campaign, or a scheduled one when `scheduled_at` (UTC) is given; `campaign_id`
    and `created_at` only for data made up to look past (the demo's campaign), otherwise the
    server's id and now."""
    from crm.segment_engine import describe_rule, parse_rule

    stamp = created_at or utc_now()
    doc: dict[str, Any] = {
        "name": draft.name,
        "objective": draft.objective,
        "channel": draft.channel,
        "templates": draft.templates,
        "rules": draft.rules,
        "description": describe_rule(parse_rule(draft.rules, workspace_catalogue(db))),
        "segment_id": draft.segment_id,
        "segment_name": draft.segment_name,
        "as_of": report.as_of.isoformat(),
        "holdout_percent": draft.holdout_percent,
        "window_days": draft.window_days,
        "dlt_template_id": draft.dlt_template_id,
        "status": DRAFT if scheduled_at is None else SCHEDULED,
        "scheduled_at": scheduled_at,
        "cancelled_at": None,
        "owner": owner,
        "matched": report.matched,
        "audience": None,
        "excluded": dict(report.excluded),
        "counters": {},
        "created_at": stamp,
        "updated_at": stamp,
        "started_at": None,
        "dispatched_at": None,
        "finished_at": None,
        "lease_owner": None,
        "lease_until": None,
        "snapshot_done": False,
    }
    if campaign_id is not None:
        doc["_id"] = campaign_id
    doc["_id"] = db.campaigns.insert_one(doc).inserted_id
    return Campaign.from_document(doc)


def get_campaign(db: Database, campaign_id: str) -> Campaign:
    doc = db.campaigns.find_one({"_id": object_id(campaign_id)})
    if doc is None:
        raise NotFound(f"no campaign with id {campaign_id!r}")
    return Campaign.from_document(doc)


def list_campaigns(db: Database, limit: int = 200) -> list[Campaign]:
    """Most recent first."""
    cursor = db.campaigns.find().sort("created_at", DESCENDING).limit(limit)
    return [Campaign.from_document(doc) for doc in cursor]


def campaign_stats(db: Database, campaign_id: str) -> CampaignStats:
    """Exact counters from communication_log; also records them (and the finish) on the campaign."""
    campaign = get_campaign(db, campaign_id)
    by_status: dict[str, int] = {}
    accepted = 0
    last_settled = None
    pipeline: list[dict[str, Any]] = [
        {"$match": {"campaign_id": campaign.id}},
        {
            "$group": {
                "_id": {"status": "$status", "accepted": "$accepted"},
                "n": {"$sum": 1},
                "last": {"$max": "$settled_at"},
            }
        },
    ]
    for group in db.communication_log.aggregate(pipeline):
        status, n = group["_id"]["status"], group["n"]
        by_status[status] = by_status.get(status, 0) + n
        accepted += n if group["_id"].get("accepted") else 0
        if group.get("last") and (last_settled is None or group["last"] > last_settled):
            last_settled = group["last"]
    delivered, failed = by_status.get(DELIVERED, 0), by_status.get(FAILED, 0)
    pending = by_status.get(PENDING, 0) + by_status.get(SENT, 0)
    stats = CampaignStats(
        campaign_id=campaign.id,
        audience=delivered + failed + pending,
        sent=accepted,
        delivered=delivered,
        failed=failed,
        pending=pending,
        holdout=by_status.get(HOLDOUT, 0),
    )
    changes: dict[str, Any] = {"counters": stats.model_dump(exclude={"campaign_id"})}
    where: dict[str, Any] = {"_id": object_id(campaign.id)}
    if campaign.status in (AWAITING, COMPLETED) and pending == 0 and campaign.finished_at is None:
        # the last receipt is in: completed. Conditional, so a resume claiming it meanwhile wins.
        changes.update(status=COMPLETED, finished_at=last_settled or campaign.dispatched_at or utc_now())
        where["status"] = campaign.status
    if changes["counters"] != campaign.counters or "finished_at" in changes:
        db.campaigns.update_one(where, {"$set": changes})
    return stats
