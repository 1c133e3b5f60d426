"""The guard every page calls first, before it renders anything."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageUser:
    username: str
    name: str
    role: str


LOCAL_USER = PageUser(username="local", name="Local user", role="admin")


def require_user() -> PageUser:
    """Return the signed-in user, or stop the page.

    Sign-in is not built yet, so for now everyone is let in as the local admin. When it lands, this
    function shows the sign-in form and calls `st.stop()` for anyone not signed in; pages need no
    change because each already calls it first (the entry script alone is not enough: see the
    AppTest note in the architecture document).
    """
    return LOCAL_USER
