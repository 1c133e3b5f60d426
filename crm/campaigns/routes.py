"""The campaign feature's HTTP routers, included by `crm.api.app.create_app`."""

from __future__ import annotations

from fastapi import APIRouter

from crm.config import Settings


def campaign_routers(settings: Settings) -> list[APIRouter]:
    from crm.campaigns.receipts import receipts_router
    from crm.campaigns.vendor import vendor_router

    return [receipts_router(settings), vendor_router(settings)]
