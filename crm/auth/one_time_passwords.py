"""How long a one-time password (the first admin's, a new user's, a reset's) may be used.

A one-time password travels by console, chat or paper, so it must not stay good for ever: after
CRM_ONE_TIME_PASSWORD_HOURS (default 72) it no longer signs in, and an admin hands out a new one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crm.config import load_settings

LIFETIME_ENV = "CRM_ONE_TIME_PASSWORD_HOURS"  # read by crm.config


def lifetime() -> timedelta:
    return timedelta(hours=load_settings().one_time_password_hours)


def expiry(now: datetime | None = None) -> datetime:
    """When a one-time password issued now stops working."""
    return (now or datetime.now(UTC)) + lifetime()


def has_expired(must_change_password: bool, expires_at: datetime | None, now: datetime | None = None) -> bool:
    """True for a one-time password past its time.

    One with no recorded expiry was issued before one-time passwords expired: it counts as expired.
    """
    if not must_change_password:
        return False
    if expires_at is None:
        return True
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    return (now or datetime.now(UTC)) >= expires_at


def describe_expiry(expires_at: datetime) -> str:
    return (expires_at if expires_at.tzinfo else expires_at.replace(tzinfo=UTC)).strftime("%Y-%m-%d %H:%M UTC")


def expired_message(username: str, expires_at: datetime | None) -> str:
    when = f"expired at {describe_expiry(expires_at)}" if expires_at else "has expired"
    return (
        f"The one-time password of {username} {when}. Ask an admin for a new one (Settings, Users, "
        f"Reset password), or on the server run `python -m crm user reset-password {username}`."
    )
