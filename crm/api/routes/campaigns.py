"""GET /api/v1/campaigns/{campaign_id}/results: what a campaign earned, as `campaign results` prints."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from crm.api.auth import authorized
from crm.api.routes.common import AUTH_ERRORS, UNAVAILABLE, error
from crm.campaigns.results import campaign_results
from crm.errors import NotFound

router = APIRouter(prefix="/api/v1", tags=["campaigns"])


@router.get(
    "/campaigns/{campaign_id}/results",
    summary="A campaign's results: conversions, attributed revenue, lift against its holdout",
    response_model=None,
    description="Computed when asked from the orders as they are now: orders that arrive later "
    "count, orders cancelled or refunded stop counting. `lift` is null without a holdout.",
    responses={
        200: {"description": "the results (see `campaign results` in the README)"},
        **AUTH_ERRORS,
        404: error("no such campaign, or not sent yet", "not_found", "no campaign with id '65f0...'"),
        503: UNAVAILABLE,
    },
)
async def get_results(
    request: Request,
    campaign_id: str = Path(min_length=1, max_length=64, examples=["65f0c0ffee0000000000abcd"]),
    _key=Depends(authorized),
) -> JSONResponse:
    results = await run_in_threadpool(campaign_results, request.app.state.db(), campaign_id)
    if results is None:
        raise NotFound(f"campaign {campaign_id} has not started sending: no results yet")
    return JSONResponse(results.as_json())
