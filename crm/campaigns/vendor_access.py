"""How the core reaches the messaging vendor: the key it sends and, with no CRM_VENDOR_URL, the
path of the mock vendor the API hosts (`crm.mock_vendor`)."""

from __future__ import annotations

from crm.config import Settings
from crm.store.data_dir_secret import data_dir_secret

MOCK_PREFIX = "/vendor/v1"
KEY_FILE = "vendor-key"
# What the mock vendor was sent lives in our database, so an erasure must reach it too.
MOCK_VENDOR_MESSAGES = "vendor_messages"


def vendor_key(settings: Settings) -> str:
    """The key the vendor asks of senders: CRM_VENDOR_KEY, or the one generated for the data dir."""
    return settings.vendor_key or data_dir_secret(settings.data_dir, KEY_FILE)
