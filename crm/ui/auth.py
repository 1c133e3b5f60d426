"""The guard every page calls first, before it renders anything."""

from __future__ import annotations

import streamlit as st

from crm.auth.users import User
from crm.ui.session import current_user, sign_in_gate


def require_user() -> User:
    """Return the signed-in user, or show sign-in (or a refusal) and stop the page.

    Called by app.py and again by each page: the second call finds the user signed in and renders
    nothing, while a page run without the entry script still shows nothing private to someone
    signed out.
    """
    user = current_user()
    if user is None:
        _through_the_entry_script()
    return user or sign_in_gate()


def _through_the_entry_script() -> None:
    """Run app.py (its hidden navigation and the sign-in form) if Streamlit ran this page alone.

    With a `pages/` folder beside app.py, Streamlit runs a page on its own, listing every file of
    the folder in the sidebar, until some run has called `st.navigation`: in a freshly started
    server whose first visitor opens a page's address (and on AppTest's reruns). Switching that
    mode off and running again goes through app.py, before this page has rendered anything.
    Only when signed out: a rerun forgets the button clicked in this run, and the first run of a
    new session (the only one a live server runs this way) has no user and no click yet.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
