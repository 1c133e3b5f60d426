"""Sending from a long-lived process (the web UI): one background thread per campaign.

The page returns at once and follows the counters; the thread's outcome (an error, if any) is
kept here so the page can show it on a later run.
"""

from __future__ import annotations

import logging
import threading

from crm.auth import Principal
from crm.config import Settings
from crm.errors import CRMError
from crm.store.documents import Database

log = logging.getLogger("crm.campaigns")
_threads: dict[str, threading.Thread] = {}
_errors: dict[str, str] = {}
_lock = threading.Lock()


def send_in_background(db: Database, user: Principal, campaign_id: str, vendor_url: str, settings: Settings) -> None:
    from crm.campaigns.service import send_campaign

    def run() -> None:
        try:
            send_campaign(db, user, campaign_id, vendor_url, settings)
        except CRMError as exc:
            _errors[campaign_id] = str(exc)
        except Exception as exc:  # noqa: BLE001 - kept for the page; details go to the log
            log.exception("sending campaign %s failed", campaign_id)
            _errors[campaign_id] = f"sending stopped ({type(exc).__name__}); resume it from the History page"

    with _lock:
        if is_sending(campaign_id):
            return
        _errors.pop(campaign_id, None)
        thread = _threads[campaign_id] = threading.Thread(target=run, name=f"campaign-{campaign_id}", daemon=True)
        thread.start()


def is_sending(campaign_id: str) -> bool:
    thread = _threads.get(campaign_id)
    return thread is not None and thread.is_alive()


def send_error(campaign_id: str) -> str | None:
    return _errors.get(campaign_id)
