"""HMAC-SHA256 signatures on delivery receipts, with the secret vendor and receiver share.

The secret is CRM_RECEIPT_SECRET, or else one generated once per data dir (file mode 0600), so
every process on the same data dir (API, UI, CLI) signs and checks with the same key.
"""

from __future__ import annotations

import hashlib
import hmac

from crm.config import Settings
from crm.data_dir_secret import data_dir_secret

HEADER = "X-Signature"
PREFIX = "sha256="
SECRET_FILE = "receipt-secret"


def receipt_secret(settings: Settings) -> bytes:
    if settings.receipt_secret:
        return settings.receipt_secret.encode("utf-8")
    return data_dir_secret(settings.data_dir, SECRET_FILE).encode("utf-8")


def sign(secret: bytes, body: bytes) -> str:
    return PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, signature: str | None) -> bool:
    if not signature or not signature.startswith(PREFIX):
        return False
    return hmac.compare_digest(sign(secret, body), signature.strip())
