"""API keys: created once and shown once, stored only as a SHA-256 hash, revocable."""

from crm.apikeys.keys import ApiKey, create_key, list_keys, revoke_key, verify_key

__all__ = ["ApiKey", "create_key", "list_keys", "revoke_key", "verify_key"]
