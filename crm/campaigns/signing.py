"""Timestamped HMAC-SHA256 signatures for delivery receipts and any other webhook (Stripe's scheme).

`X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`. The timestamp is
signed with the body, so a captured request cannot be replayed once it is older than the
tolerance (5 minutes by default), nor its header reused on another body. The header may carry
several `v1=` entries (a sender signing with more than one secret); one match is enough.

The receipt secret is CRM_RECEIPT_SECRET, or else one generated once per data dir (file mode
0600), so every process on the same data dir (API, UI, CLI) signs and checks with the same key.
During a rotation CRM_RECEIPT_SECRET_PREVIOUS is accepted too; signing always uses the current one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from crm.config import Settings
from crm.store.data_dir_secret import data_dir_secret

HEADER = "X-Signature"
SCHEME = "v1"
FORMAT = 't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">'
SECRET_FILE = "receipt-secret"
OPENAPI_EXTENSION = "x-hmac-signature"

_ENTRY = re.compile(r"([A-Za-z0-9_]+)=([^,=]*)")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_DIGEST = re.compile(r"[0-9a-f]{64}")


class SignatureError(Exception):
    """Why a signature is refused, in words the sender can act on."""


@dataclass(frozen=True)
class Secrets:
    """The key that signs, and the keys that verify (it, plus the previous one during a rotation)."""

    current: bytes
    previous: tuple[bytes, ...] = ()

    @property
    def accepted(self) -> tuple[bytes, ...]:
        return (self.current, *self.previous)


def receipt_secrets(settings: Settings) -> Secrets:
    current = settings.receipt_secret or data_dir_secret(settings.data_dir, SECRET_FILE)
    previous = settings.receipt_secret_previous
    return Secrets(current.encode("utf-8"), (previous.encode("utf-8"),) if previous else ())


def sign(secret: bytes, body: bytes, timestamp: int | None = None) -> str:
    """The header value for `body`, signed at `timestamp` (now when not given)."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={t},{SCHEME}={_digest(secret, t, body)}"


def verify(
    secrets: Sequence[bytes], body: bytes, header: str | None, *, tolerance: int, now: float | None = None
) -> int:
    """The signed timestamp if `header` signs `body` with one of `secrets` within `tolerance`.

    Raises SignatureError saying why not. The signature is checked before the age, so "too old"
    or "from the future" also tells an honest sender its body and secret were right.
    """
    timestamp, candidates = parse(header)
    expected = [_digest(secret, timestamp, body) for secret in secrets]
    if not any(hmac.compare_digest(e, c) for e in expected for c in candidates):
        raise SignatureError(
            'the signature does not match the body: check the secret, and sign the exact bytes sent as "<t>.<body>"'
        )
    age = round((time.time() if now is None else now) - timestamp)
    if age > tolerance:
        raise SignatureError(
            f"the signature timestamp is {age} s old, {age - tolerance} s more than "
            f"the {tolerance} s allowed: sign each request when it is sent"
        )
    if -age > tolerance:
        raise SignatureError(
            f"the signature timestamp is {-age} s in the future, more than the "
            f"{tolerance} s allowed: check the sender's clock"
        )
    return timestamp


def parse(header: str | None) -> tuple[int, list[str]]:
    """(timestamp, v1 digests) of a header value; SignatureError when it is missing or malformed.

    Strict: comma-separated `key=value` entries with no spaces, one `t`, at least one `v1`.
    Entries of other schemes are ignored, so a sender may add a newer one alongside.
    """
    if header is None:
        raise SignatureError(f"the {HEADER} header is missing; send {HEADER}: {FORMAT}")
    if not header:
        raise SignatureError(f"the {HEADER} header is empty; send {FORMAT}")
    if not header.isascii():
        raise SignatureError(f"the {HEADER} header has characters that are not ASCII; send {FORMAT}")
    if any(c.isspace() for c in header):
        raise SignatureError(f"the {HEADER} header has spaces in it; send {FORMAT} with none")
    entries = header.split(",")
    bad = [e for e in entries if not _ENTRY.fullmatch(e)]
    if bad:
        raise SignatureError(f"the {HEADER} header entry {bad[0][:40]!r} is not key=value; send {FORMAT}")
    pairs = [e.split("=", 1) for e in entries]
    stamps = [v for k, v in pairs if k == "t"]
    if len(stamps) != 1:
        raise SignatureError(
            f"the {HEADER} header needs exactly one t=<unix seconds>, not {len(stamps)}; send {FORMAT}"
        )
    if not _TIMESTAMP.fullmatch(stamps[0]):
        raise SignatureError(
            f"the {HEADER} timestamp t={stamps[0][:20]} is not a whole number of seconds since 1970 (UTC)"
        )
    digests = [v.lower() for k, v in pairs if k == SCHEME]
    if not digests:
        raise SignatureError(f"the {HEADER} header has no {SCHEME}= signature; send {FORMAT}")
    if not all(_DIGEST.fullmatch(d) for d in digests):
        raise SignatureError(f"a {SCHEME}= signature in the {HEADER} header is not 64 hex digits (HMAC-SHA256)")
    return int(stamps[0]), digests


def openapi_declaration(secret_variable: str, secret_source: str, example: str) -> dict[str, Any]:
    """OpenAPI of a signed operation: the header, and how to sign it (the Postman export reads it)."""
    return {
        "parameters": [
            {
                "name": HEADER,
                "in": "header",
                "required": True,
                "description": FORMAT,
                "schema": {"type": "string"},
                "example": example,
            }
        ],
        OPENAPI_EXTENSION: {"header": HEADER, "secret": secret_variable, "secret_source": secret_source},
    }


def _digest(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()
