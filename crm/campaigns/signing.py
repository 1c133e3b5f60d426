"""HMAC-SHA256 signatures on delivery receipts, with the secret vendor and receiver share.

The secret is CRM_RECEIPT_SECRET, or else one generated once per data dir (file mode 0600), so
every process on the same data dir (API, UI, CLI) signs and checks with the same key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from crm.config import Settings

HEADER = "X-Signature"
PREFIX = "sha256="
SECRET_FILE = "receipt-secret"


def receipt_secret(settings: Settings) -> bytes:
    if settings.receipt_secret:
        return settings.receipt_secret.encode("utf-8")
    path = Path(settings.data_dir) / SECRET_FILE
    if not path.exists():
        # Written whole to a temporary file, then linked into place: a reader never sees it
        # half-written, and of two processes racing only the first link wins.
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip().encode("utf-8")


def sign(secret: bytes, body: bytes) -> str:
    return PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, signature: str | None) -> bool:
    if not signature or not signature.startswith(PREFIX):
        return False
    return hmac.compare_digest(sign(secret, body), signature.strip())
