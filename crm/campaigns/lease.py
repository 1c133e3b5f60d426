"""The dispatch lease: a campaign is sent by one process at a time.

A dispatcher claims the campaign by writing its owner id and an expiry in one conditional
update (MongoDB applies it atomically, so of two claimants exactly one matches), renews it while
it works, and releases it at the end. If the process dies, the lease runs out and another
dispatcher may resume the campaign. A scheduled campaign can be claimed only once it is due (the
same update checks `scheduled_at`, so of several schedulers one starts it); a cancelled one never.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from pymongo import ReturnDocument

from crm.campaigns.model import AWAITING, CANCELLED, COMPLETED, DRAFT, SCHEDULED, SENDING, Campaign
from crm.campaigns.repository import get_campaign, object_id
from crm.errors import Conflict
from crm.store.clock import utc_now
from crm.store.documents import Database, Document


def new_owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    def __init__(self, db: Database, campaign_id: str, seconds: int, owner: str | None = None):
        self.db, self.campaign_id, self.seconds = db, campaign_id, max(1, seconds)
        self.owner = owner or new_owner_id()

    def claim(self, now: datetime | None = None) -> Campaign:
        """Take the campaign for this dispatcher, or raise Conflict saying who has it; a scheduled
        campaign only when its time is at or before `now` (default: the clock)."""
        stamp = utc_now()
        due_by = now or stamp
        doc = self.db.campaigns.find_one_and_update(
            {
                "_id": object_id(self.campaign_id),
                "$and": [
                    {
                        "$or": [
                            {"status": {"$in": [DRAFT, SENDING, AWAITING]}},
                            {"status": SCHEDULED, "scheduled_at": {"$lte": due_by}},
                        ]
                    },
                    {"$or": [{"lease_until": None}, {"lease_until": {"$lt": stamp}}, {"lease_owner": self.owner}]},
                ],
            },
            {
                "$set": {
                    "lease_owner": self.owner,
                    "lease_until": stamp + timedelta(seconds=self.seconds),
                    "status": SENDING,
                    "updated_at": stamp,
                }
            },
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            current = get_campaign(self.db, self.campaign_id)  # NotFound when it does not exist
            if current.status == COMPLETED:
                raise Conflict(f"campaign {self.campaign_id} has already been sent")
            if current.status == SCHEDULED and current.scheduled_at is not None:
                raise Conflict(
                    f"campaign {self.campaign_id} is scheduled for {current.scheduled_at:%Y-%m-%d %H:%M} UTC and "
                    "starts then; cancel it, or reschedule it to send sooner"
                )
            if current.status == CANCELLED:
                raise Conflict(f"campaign {self.campaign_id} was cancelled; compose it again to send it")
            if current.status not in (DRAFT, SENDING, AWAITING):
                raise Conflict(f"campaign {self.campaign_id} is {current.status}; it cannot be sent")
            raise Conflict(
                f"campaign {self.campaign_id} is being sent by {current.lease_owner} "
                f"(lease until {current.lease_until:%H:%M:%S} UTC)"
            )
        self.db.campaigns.update_one({"_id": doc["_id"], "started_at": None}, {"$set": {"started_at": stamp}})
        return Campaign.from_document(doc)

    def renew(self) -> bool:
        """Extend the lease; False when it was lost (expired and taken by someone else)."""
        stamp = utc_now()
        result = self.db.campaigns.update_one(
            {"_id": object_id(self.campaign_id), "lease_owner": self.owner},
            {"$set": {"lease_until": stamp + timedelta(seconds=self.seconds)}},
        )
        return result.matched_count == 1

    def release(self, status: str | None = None) -> None:
        """Give the campaign up; with COMPLETED or AWAITING, every message was handed to the vendor."""
        changes: Document = {"lease_owner": None, "lease_until": None, "updated_at": utc_now()}
        if status in (COMPLETED, AWAITING):
            changes.update(status=status, dispatched_at=changes["updated_at"])
        self.db.campaigns.update_one({"_id": object_id(self.campaign_id), "lease_owner": self.owner}, {"$set": changes})
