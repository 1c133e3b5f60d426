"""POST /api/v1/inbound-messages: customers' SMS and WhatsApp replies, forwarded by the vendor
and signed like delivery receipts (timestamped HMAC, so a captured request cannot be replayed
later); a stop word turns the channel off for that number. Sending one again changes nothing."""

from __future__ import annotations

import json
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, ValidationError

from crm.api.errors import ApiError, ErrorDetail
from crm.api.routes.common import UNAVAILABLE, error
from crm.api.signed import check_signature
from crm.campaigns.signing import FORMAT, HEADER, openapi_declaration, receipt_secrets, sign
from crm.ingest.inbound import receive_reply

router = APIRouter(prefix="/api/v1", tags=["inbound messages"])


class InboundMessage(BaseModel):
    id: str = Field(min_length=1, max_length=200, description="the vendor's id of the reply")
    channel: Literal["sms", "whatsapp"]
    from_: str = Field(alias="from", min_length=3, max_length=40, description="the customer's number")
    text: str = Field(max_length=2_000)


class InboundResult(BaseModel):
    duplicate: bool = Field(description="this reply id was received before: nothing was done again")
    stop: bool = Field(description="the reply asked us to stop")
    opted_out: int = Field(description="customers with that number whose consent for the channel was turned off")


_EXAMPLE = {"id": "in-1", "channel": "sms", "from": "+919876543210", "text": "STOP"}
_OPENAPI = {
    **openapi_declaration(
        "receiptSecret",
        "CRM_RECEIPT_SECRET, or the data dir's receipt-secret file",
        sign(b"<receipt secret>", json.dumps(_EXAMPLE).encode(), 1748772000),
    ),
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": InboundMessage.model_json_schema(), "example": _EXAMPLE}},
    },
}


@router.post(
    "/inbound-messages",
    summary="A customer's reply (SMS or WhatsApp): STOP and the like opt them out",
    response_model=InboundResult,
    openapi_extra=_OPENAPI,
    responses={
        401: error(
            "missing, malformed, stale or wrong signature",
            "unauthorized",
            "the signature timestamp is 360 s old, 60 s more than the 300 s allowed: sign each request when it is sent",
            [{"index": None, "field": HEADER, "reason": f"expected {FORMAT}"}],
        ),
        422: error(
            "not a reply",
            "invalid_message",
            "the reply is not valid",
            [{"index": None, "field": "channel", "reason": "..."}],
        ),
        503: UNAVAILABLE,
    },
)
async def inbound_message(request: Request) -> dict:
    settings = request.app.state.settings
    body = await request.body()
    check_signature(receipt_secrets(settings), body, request.headers.get(HEADER), settings.signature_tolerance_seconds)
    try:
        message = InboundMessage.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(
            422, "invalid_message", "the reply is not valid", [ErrorDetail(field=where, reason=first["msg"])]
        ) from None
    result = await run_in_threadpool(
        receive_reply,
        request.app.state.db(),
        message.id,
        message.channel,
        message.from_,
        message.text,
        settings.phone_region,
    )
    return {"duplicate": result.duplicate, "stop": result.stop, "opted_out": result.opted_out}
