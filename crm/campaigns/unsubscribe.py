"""One-click unsubscribe links for email messages: `<public url>/u/<token>`.

The token names the customer, the channel and the campaign, and is signed with HMAC-SHA256
(CRM_UNSUBSCRIBE_SECRET, or one generated per data dir): it cannot be forged, and a token for
one customer cannot be changed into another's. It never expires, as unsubscribe links must keep
working (Gmail and Yahoo's sender rules, RFC 8058); using it again changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

from crm.config import Settings
from crm.store.data_dir_secret import data_dir_secret

SECRET_FILE = "unsubscribe-secret"
PATH = "/u"
MAX_TOKEN = 600


class BadToken(Exception):
    """The link was changed, cut short or made up."""


@dataclass(frozen=True)
class Unsubscribe:
    customer_id: str
    channel: str
    campaign_id: str

    @property
    def channel_field(self) -> str:
        return "email" if self.channel == "email" else "phone"


def unsubscribe_secret(settings: Settings) -> bytes:
    return (settings.unsubscribe_secret or data_dir_secret(settings.data_dir, SECRET_FILE)).encode("utf-8")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(secret: bytes, what: Unsubscribe) -> str:
    payload = json.dumps([what.customer_id, what.channel, what.campaign_id], separators=(",", ":")).encode()
    digest = hmac.new(secret, payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(digest)}"


def read_token(secret: bytes, token: str) -> Unsubscribe:
    """What a token unsubscribes; BadToken when its signature does not match."""
    if len(token) > MAX_TOKEN or token.count(".") != 1:
        raise BadToken("not an unsubscribe link of ours")
    body, signature = token.split(".")
    try:
        payload, digest = _unb64(body), _unb64(signature)
    except ValueError:
        raise BadToken("not an unsubscribe link of ours") from None
    if not hmac.compare_digest(hmac.new(secret, payload, hashlib.sha256).digest(), digest):
        raise BadToken("the link was changed or cut short")
    customer_id, channel, campaign_id = json.loads(payload)
    return Unsubscribe(customer_id, channel, campaign_id)


# Every email ends with its one-click unsubscribe link (and its List-Unsubscribe headers). The
# link is added to the body only in the vendor request: the stored log, its page and its CSV,
# which colleagues read, never hold a working link to someone else's unsubscribe.
FOOTER = "Unsubscribe from these emails: "


def unsubscribe_url(settings: Settings, what: Unsubscribe, secret: bytes | None = None) -> str:
    token = make_token(secret or unsubscribe_secret(settings), what)
    return f"{settings.public_url.rstrip('/')}{PATH}/{token}"


def with_footer(body: str, url: str) -> str:
    return f"{body}\n\n{FOOTER}{url}"


def list_unsubscribe_headers(url: str) -> dict[str, str]:
    """What a real email vendor puts on the message so mail apps show "Unsubscribe" (RFC 8058)."""
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
