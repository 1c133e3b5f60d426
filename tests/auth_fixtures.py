"""Signing an AppTest session in, the way the sign-in gate leaves a session after a local sign-in."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from crm.auth import CLI, users
from crm.store import get_db
from crm.ui.session import SESSION_VERSION_KEY, SIGNED_IN_KEY

PASSWORD = "a fixture's own passphrase"


def ready_user(role: str = "admin", username: str | None = None) -> users.User:
    """A ready local account with `role` in the test's database (created once), password PASSWORD."""
    username = username or f"test-{role}"
    user = users.get_user(username, db=get_db())
    if user is None:
        user, one_time = users.add_local_user(CLI, username, role, name=f"Test {role.title()}", db=get_db())
        user = users.change_own_password(user, PASSWORD, PASSWORD, current=one_time, db=get_db())
    return user


def sign_in(at: AppTest, role: str = "admin", username: str | None = None) -> users.User:
    user = ready_user(role, username)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = user.username
    at.session_state[SIGNED_IN_KEY] = user.username
    at.session_state[SESSION_VERSION_KEY] = user.session_version
    return user
