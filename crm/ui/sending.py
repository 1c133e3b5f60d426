"""Sending from the web UI: the campaign goes out in a background thread of the server process,
to CRM_VENDOR_URL or to the mock vendor this process hosts for as long as it runs."""

from __future__ import annotations

from crm.api.local_host import endpoints
from crm.campaigns.background import send_in_background
from crm.config import load_settings
from crm.store.documents import Database


def start_sending(db: Database, user, campaign_id: str) -> None:
    settings = load_settings()
    send_in_background(db, user, campaign_id, endpoints(settings).vendor_url, settings)
