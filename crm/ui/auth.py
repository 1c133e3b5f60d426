"""The guard every page calls first, before it renders anything."""

from __future__ import annotations

from crm.auth.users import User
from crm.ui.session import current_user, sign_in_gate


def require_user() -> User:
    """Return the signed-in user, or show sign-in (or a refusal) and stop the page.

    Called by app.py and again by each page: the second call finds the user signed in and renders
    nothing, while a page run without the entry script still shows nothing private to someone
    signed out. Pages live in `app_pages/`, not `pages/`: with a `pages/` folder Streamlit would
    run a page on its own, without app.py, for the first visitor of a freshly started server who
    opens a page's address (a bookmark), listing raw file names in the sidebar.
    """
    return current_user() or sign_in_gate()
