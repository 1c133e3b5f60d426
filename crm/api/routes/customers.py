"""GET /api/v1/customers/{customer_id}: the customer and a summary of their orders."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from crm.api.auth import authorized
from crm.api.lookup import customer_with_orders
from crm.api.routes.common import AUTH_ERRORS, UNAVAILABLE, error
from crm.api.schemas import CUSTOMER_VIEW_EXAMPLE, CustomerView
from crm.auth.api_keys import ApiKey
from crm.ingest.erasure import erase_customer

router = APIRouter(prefix="/api/v1", tags=["customers"])
INVALID_ID = error(
    "the id is not valid",
    "invalid_request",
    "the request is not valid",
    [{"index": None, "field": "customer_id", "reason": "String should have at most 128 characters"}],
)


@router.get(
    "/customers/{customer_id}",
    summary="A customer with an order summary",
    response_model=None,
    responses={
        200: {
            "model": CustomerView,
            "description": "the customer and their orders' summary",
            "content": {"application/json": {"example": CUSTOMER_VIEW_EXAMPLE}},
        },
        **AUTH_ERRORS,
        404: error("no such customer", "not_found", "no customer with customer_id 'C-404'"),
        422: INVALID_ID,
        503: UNAVAILABLE,
    },
)
async def get_customer(
    request: Request,
    customer_id: str = Path(min_length=1, max_length=128, examples=["C-1001"]),
    _key=Depends(authorized),
) -> JSONResponse:
    view = await run_in_threadpool(customer_with_orders, request.app.state.db(), customer_id)
    return JSONResponse(jsonable_encoder(view))


@router.delete(
    "/customers/{customer_id}",
    summary="Erase a customer",
    response_model=None,
    description="Erases the customer and their orders for good (a data principal's right to "
    "erasure). Messages already sent keep their row with the address and text replaced, "
    "so campaign counts stay exact. A second erase answers 404.",
    responses={
        200: {
            "description": "erased",
            "content": {
                "application/json": {"example": {"customer_id": "C-1001", "orders": 3, "messages": 2, "unsent": 0}}
            },
        },
        **AUTH_ERRORS,
        404: error(
            "no such customer (or already erased)",
            "not_found",
            "no customer with customer_id 'C-404' (never imported, or already erased)",
        ),
        422: INVALID_ID,
        503: UNAVAILABLE,
    },
)
async def delete_customer(
    request: Request,
    customer_id: str = Path(min_length=1, max_length=128, examples=["C-1001"]),
    key: ApiKey = Depends(authorized),
) -> JSONResponse:
    report = await run_in_threadpool(erase_customer, request.app.state.db(), customer_id, by=key)
    return JSONResponse(report.summary())
