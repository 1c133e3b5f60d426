"""The one clock for stored times: UTC, cut to the millisecond MongoDB keeps, so a time read back
equals the time written (and compares equal in tests and in forward-only updates)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
