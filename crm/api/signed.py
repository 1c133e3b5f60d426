"""Webhooks signed with the receipt secret (delivery receipts, customers' replies): the one check,
answered 401 in our words when the signature is missing, wrong or stale."""

from __future__ import annotations

from crm.api.errors import ApiError, ErrorDetail
from crm.campaigns.signing import FORMAT, HEADER, Secrets, SignatureError, verify


def check_signature(secrets: Secrets, body: bytes, header: str | None, tolerance: int) -> None:
    try:
        verify(secrets.accepted, body, header, tolerance=tolerance)
    except SignatureError as exc:
        raise ApiError(
            401, "unauthorized", str(exc), [ErrorDetail(field=HEADER, reason=f"expected {FORMAT}")]
        ) from None
