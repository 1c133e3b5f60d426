"""The sign-in cookie: a signed token naming the account and the session version it was issued
under, so a reset, password change, disable or role change (each moves the version on) makes
every cookie from before it worthless. Plain functions, no Streamlit: crm.auth.session sets and
reads the cookie."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

ALGORITHM = "HS256"


@dataclass(frozen=True)
class CookieClaims:
    username: str
    session_version: int


def issue(username: str, session_version: int, secret: str, days: float, now: datetime | None = None) -> str:
    expires = (now or datetime.now(UTC)) + timedelta(days=days)
    return jwt.encode({"sub": username, "sv": int(session_version), "exp": expires}, secret, algorithm=ALGORITHM)


def read(token: str | None, secret: str) -> CookieClaims | None:
    """What a cookie vouches for, or None if it is forged, expired or of an older format."""
    if not token:
        return None
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "sv", "exp"]})
    except jwt.PyJWTError:
        return None
    if not isinstance(claims["sub"], str) or type(claims["sv"]) is not int:
        return None
    return CookieClaims(claims["sub"], claims["sv"])
