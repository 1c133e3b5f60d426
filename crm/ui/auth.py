"""The guard every page calls first, before it renders anything."""

from __future__ import annotations

from crm.auth.session import current_user, sign_in_gate
from crm.auth.users import User


def require_user() -> User:
    """Return the signed-in user, or show sign-in (or a refusal) and stop the page.

    Called by app.py and again by each page: the second call finds the user signed in and renders
    nothing, while a page run without the entry script (Streamlit's AppTest reruns; see the
    architecture document) still shows nothing private to someone signed out.
    """
    return current_user() or sign_in_gate()
