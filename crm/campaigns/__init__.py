"""Campaigns: compose and check, audience snapshot, dispatch to the vendor, receipts, stats.

campaign, report = compose_campaign(db, user, CampaignDraft.build(...))   # check, then create
stats = send_campaign(db, user, campaign.id, vendor_url, settings)         # or resume it
stats = wait_until_settled(db, campaign.id)
"""

from crm.campaigns.channels import CHANNELS
from crm.campaigns.check import CheckReport, check_draft, check_in_workspace, preview_messages
from crm.campaigns.model import Campaign, CampaignDraft, CampaignStats
from crm.campaigns.repository import campaign_stats, get_campaign, list_campaigns
from crm.campaigns.service import compose_campaign, send_campaign, wait_until_settled

__all__ = [
    "CHANNELS",
    "Campaign",
    "CampaignDraft",
    "CampaignStats",
    "CheckReport",
    "campaign_stats",
    "check_draft",
    "check_in_workspace",
    "compose_campaign",
    "get_campaign",
    "list_campaigns",
    "preview_messages",
    "send_campaign",
    "wait_until_settled",
]
