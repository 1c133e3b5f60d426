"""Sign-ins end when the account changes: a password reset, a password change, a disable, a role
change. An open session ends on its next run, and a cookie (or a Google login) from before the
change no longer opens anything, not even "Choose a new password"; the owner's one-time password
does. One-time passwords expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from streamlit.testing.v1 import AppTest

from crm.auth import CLI, audit, one_time_passwords, session_cookie, users
from crm.auth.signin_settings import cookie_secret
from crm.config import load_settings
from crm.errors import InvalidInput
from crm.store import get_db
from crm.ui.session import AUTH_COOKIE, ENDED_MESSAGE, OIDC_ENDED_MESSAGE
from tests.pages.test_auth_pages import GOOGLE, ROOT
from tests.signin_gate import MIA_PASSWORD, errors, gate, let_time_pass, private, ready, submit

NEW_PASSWORD = "mia's second passphrase"


def cookie_of(username: str) -> str:
    """The cookie the app sets for a session signed in now."""
    return session_cookie.issue(
        username, users.get_user(username, db=get_db()).session_version, cookie_secret(load_settings(), {}), 7
    )


def titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def warnings(at: AppTest) -> list[str]:
    return [w.value for w in at.warning]


def ended(at: AppTest) -> bool:
    """The sign-in form, saying the session ended, and nothing private."""
    return (
        not at.exception
        and not private(at)
        and "Choose a new password" not in titles(at)
        and warnings(at) == [ENDED_MESSAGE]
        and any(b.label == "Sign in" for b in at.button)
    )


def change_password(at: AppTest, current: str, new: str) -> None:
    boxes = {t.label: t for t in at.text_input}
    boxes["One-time password"].input(current)
    boxes["New password"].input(new)
    boxes["Repeat new password"].input(new)
    next(b for b in at.button if b.label == "Save password").click()
    at.run()


def test_a_cookie_from_before_a_reset_opens_nothing_and_the_owners_one_time_password_works(db, browser):
    ready("mia")
    owner = gate()
    submit(owner, "mia", MIA_PASSWORD)
    assert private(owner) == ["private page for mia"]
    stolen = cookie_of("mia")
    browser.cookies = {AUTH_COOKIE: stolen}
    assert private(gate()) == ["private page for mia"]  # before the reset the cookie signs in

    one_time = users.reset_password(CLI, "mia", db=get_db())  # the admin resets the compromised account
    thief = gate()
    assert ended(thief)
    thief.run()
    assert ended(thief)
    owner.run()  # the owner's open session ends too
    assert ended(owner)

    browser.cookies = {}
    mia = gate()
    submit(mia, "mia", one_time)
    assert titles(mia) == ["Choose a new password"] and not private(mia)
    change_password(mia, "not the one-time password", NEW_PASSWORD)
    assert errors(mia) == ["one-time password: that is not your one-time password"]
    change_password(mia, one_time, NEW_PASSWORD)
    assert private(mia) == ["private page for mia"]
    mia.run()
    assert private(mia) == ["private page for mia"]  # her session carries on under the new version

    browser.cookies = {AUTH_COOKIE: stolen}
    assert ended(gate())
    browser.cookies = {AUTH_COOKIE: cookie_of("mia")}  # the cookie her sign-in sets now
    assert private(gate()) == ["private page for mia"]
    assert [e.details.get("reason") for e in audit.query({"action": "signout"}, db=get_db())] == ["account changed"]


def test_the_sign_in_cookie_of_the_earlier_format_signs_nobody_in(db, browser):
    ready("mia")
    old = jwt.encode(
        {"username": "mia", "exp_date": (datetime.now() + timedelta(days=7)).timestamp()},
        cookie_secret(load_settings(), {}),
        algorithm="HS256",
    )
    browser.cookies = {AUTH_COOKIE: old}
    at = gate()
    assert not private(at) and any(b.label == "Sign in" for b in at.button)


def test_a_password_change_ends_the_accounts_other_sessions(db, browser):
    ready("mia")
    other_tab = gate()
    submit(other_tab, "mia", MIA_PASSWORD)
    browser.cookies = {AUTH_COOKIE: cookie_of("mia")}
    users.change_own_password(
        users.get_user("mia", db=get_db()), NEW_PASSWORD, NEW_PASSWORD, current=MIA_PASSWORD, db=get_db()
    )
    other_tab.run()
    assert ended(other_tab)
    assert ended(gate())


def test_disabling_ends_an_open_session_on_its_next_run_and_enabling_does_not_revive_its_cookie(db, browser):
    ready("mia")
    at = gate()
    submit(at, "mia", MIA_PASSWORD)
    browser.cookies = {AUTH_COOKIE: cookie_of("mia")}
    users.set_active(CLI, "mia", False, db=get_db())
    at.run()
    assert errors(at) == ["Access refused: the account mia is disabled."] and not private(at)
    at.run()
    assert not private(at)
    users.set_active(CLI, "mia", True, db=get_db())
    assert ended(gate())
    again = gate()
    submit(again, "mia", MIA_PASSWORD)
    assert private(again) == ["private page for mia"]


def test_a_role_change_ends_open_sessions_and_earlier_cookies(db, browser):
    ready("mia", role="marketer")
    at = gate()
    submit(at, "mia", MIA_PASSWORD)
    browser.cookies = {AUTH_COOKIE: cookie_of("mia")}
    users.set_role(CLI, "mia", "viewer", db=get_db())
    at.run()
    assert ended(at)
    assert ended(gate())
    submit(at, "mia", MIA_PASSWORD)
    assert private(at) == ["private page for mia"]
    users.set_role(CLI, "mia", "viewer", db=get_db())  # no change: nothing ends
    at.run()
    assert private(at) == ["private page for mia"]


def google_session(monkeypatch, email: str, issued_at: int) -> AppTest:
    """A browser tab whose Streamlit auth cookie holds the Google login issued at `issued_at`."""
    monkeypatch.setenv("CRM_ALLOWED_DOMAINS", "corp.example")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.secrets["auth"] = GOOGLE
    at.user = {
        "is_logged_in": True,
        "email": email,
        "name": "Ann",
        "iss": "https://accounts.google.com",
        "sub": "ann-1",
        "iat": issued_at,
        "nonce": f"n-{issued_at}",
    }
    at.run()
    return at


def signed_in_google(at: AppTest) -> bool:
    return not at.exception and titles(at) == ["Home"] and any("Signed in as" in c.value for c in at.sidebar.caption)


def test_google_sessions_end_on_a_role_change_and_on_disable(db, monkeypatch):
    users.oidc_sign_in("boss@corp.example", "Boss", "google", "viewer", db=get_db())  # the first one: admin
    users.oidc_sign_in("ann@corp.example", "Ann", "google", "marketer", db=get_db())
    tab = google_session(monkeypatch, "ann@corp.example", 1_764_666_000)
    assert signed_in_google(tab)
    users.set_role(CLI, "ann@corp.example", "viewer", db=get_db())
    tab.run()
    assert [e.value for e in tab.error] == [OIDC_ENDED_MESSAGE] and not signed_in_google(tab)
    new_tab = google_session(monkeypatch, "ann@corp.example", 1_764_666_000)  # same Google login
    assert [e.value for e in new_tab.error] == [OIDC_ENDED_MESSAGE] and not signed_in_google(new_tab)
    fresh = google_session(monkeypatch, "ann@corp.example", 1_764_669_600)  # signed in with Google again
    assert signed_in_google(fresh) and any("viewer" in c.value for c in fresh.sidebar.caption)

    users.set_active(CLI, "ann@corp.example", False, db=get_db())
    fresh.run()
    assert any("is disabled" in e.value for e in fresh.error) and not signed_in_google(fresh)


def age(db, username: str, hours: float) -> None:
    """Move the one-time password's expiry `hours` into the past."""
    expires = db.users.find_one({"username": username})["password_expires_at"]
    db.users.update_one({"username": username}, {"$set": {"password_expires_at": expires - timedelta(hours=hours)}})


def test_the_first_admins_one_time_password_expires_and_a_reset_gives_a_new_one(db, browser, cli):
    username, one_time = users.ensure_first_admin(db=get_db())
    expires = users.get_user(username, db=get_db()).password_expires_at
    assert timedelta(hours=71.9) < expires - datetime.now(UTC) <= timedelta(hours=72)  # the default
    age(db, username, 73)
    at = gate()
    submit(at, username, one_time)
    (message,) = errors(at)
    assert message.startswith(f"The one-time password of {username} expired at ")
    assert f"`python -m crm user reset-password {username}`" in message
    assert not private(at) and "Choose a new password" not in titles(at)
    assert audit.query({"action": "signin.refused"}, db=get_db())[0].details["reason"] == "one-time password expired"

    printed = cli("user", "reset-password", username, check=True).stdout.strip().splitlines()
    assert "valid until" in printed[0]
    submit(at, username, printed[-1])
    assert titles(at) == ["Choose a new password"]
    change_password(at, printed[-1], "an admin's own long phrase")
    assert private(at) == [f"private page for {username}"]


def test_a_one_time_password_that_expires_on_the_change_screen_cannot_set_a_password(db, browser):
    _, one_time = users.add_local_user(CLI, "mia", "marketer", db=get_db())
    at = gate()
    submit(at, "mia", one_time)
    age(db, "mia", 73)
    change_password(at, one_time, NEW_PASSWORD)
    assert errors(at)[0].startswith("one-time password: The one-time password of mia expired at ")
    assert users.get_user("mia", db=get_db()).must_change_password and not private(at)


def test_the_lifetime_of_one_time_passwords_is_configurable(db, monkeypatch):
    monkeypatch.setenv(one_time_passwords.LIFETIME_ENV, "1.5")
    user, _ = users.add_local_user(CLI, "mia", "viewer", db=get_db())
    left = user.password_expires_at - datetime.now(UTC)
    assert timedelta(hours=1.4) < left <= timedelta(hours=1.5)
    monkeypatch.setenv(one_time_passwords.LIFETIME_ENV, "forever")
    with pytest.raises(InvalidInput, match="CRM_ONE_TIME_PASSWORD_HOURS: 'forever' is not a number of hours"):
        users.reset_password(CLI, "mia", db=get_db())


def test_a_one_time_password_of_an_earlier_version_with_no_expiry_counts_as_expired(db):
    _, one_time = users.add_local_user(CLI, "mia", "viewer", db=get_db())
    db.users.update_one({"username": "mia"}, {"$unset": {"password_expires_at": ""}})
    assert users.get_user("mia", db=get_db()).one_time_password_expired


def test_a_password_change_needs_the_current_password(db):
    user, one_time = users.add_local_user(CLI, "mia", "viewer", db=get_db())
    with pytest.raises(InvalidInput, match="one-time password: that is not your one-time password"):
        users.change_own_password(user, NEW_PASSWORD, NEW_PASSWORD, current="", db=get_db())
    users.change_own_password(user, MIA_PASSWORD, MIA_PASSWORD, current=one_time, db=get_db())
    with pytest.raises(InvalidInput, match="current password: that is not your current password"):
        users.change_own_password(user, NEW_PASSWORD, NEW_PASSWORD, current=one_time, db=get_db())
    assert users.check_sign_in("mia", MIA_PASSWORD, db=get_db()) is not None


def script_with_the_account_sidebar():
    import streamlit as st

    from crm.ui.auth import require_user
    from crm.ui.session import account_sidebar

    user = require_user()
    account_sidebar(user)
    st.header(f"private page for {user.username}")


def signed_in_with_sidebar() -> AppTest:
    ready("mia")
    at = AppTest.from_function(script_with_the_account_sidebar, default_timeout=60)
    at.run()
    submit(at, "mia", MIA_PASSWORD)
    assert not at.exception, [e.value for e in at.exception]  # the gate and the cookie on one run
    assert private(at) == ["private page for mia"]
    return at


def own_password(at: AppTest, current: str, new: str) -> None:
    boxes = {t.label: t for t in at.sidebar.text_input}
    boxes["Current password"].input(current)
    boxes["New password"].input(new)
    boxes["Repeat new password"].input(new)
    next(b for b in at.sidebar.button if b.label == "Save password").click()
    at.run()


def test_a_signed_in_user_changes_their_password_only_with_the_current_one(db, browser):
    at = signed_in_with_sidebar()
    browser.cookies = {AUTH_COOKIE: cookie_of("mia")}  # another browser of the same account
    own_password(at, "someone else's guess", NEW_PASSWORD)
    assert [e.value for e in at.sidebar.error] == ["current password: that is not your current password"]
    assert users.check_sign_in("mia", MIA_PASSWORD, db=get_db()) is not None
    own_password(at, MIA_PASSWORD, NEW_PASSWORD)
    assert private(at) == ["private page for mia"]
    assert [s.value for s in at.sidebar.success] == ["Password changed. Your other sessions have ended."]
    assert users.check_sign_in("mia", NEW_PASSWORD, db=get_db()) is not None
    at.run()
    assert private(at) == ["private page for mia"]  # this session goes on
    assert ended(gate())  # the other browser's cookie does not


def test_guessing_the_current_password_from_an_open_session_is_slowed_down(db, browser):
    at = signed_in_with_sidebar()
    for _ in range(4):
        own_password(at, "a guess", NEW_PASSWORD)
        assert [e.value for e in at.sidebar.error] == ["current password: that is not your current password"]
    own_password(at, "a guess", NEW_PASSWORD)
    assert [e.value for e in at.sidebar.error] == [
        "current password: that is not your current password. Too many attempts; try again in 2 s."
    ]
    own_password(at, MIA_PASSWORD, NEW_PASSWORD)  # refused unchecked during the wait
    assert [e.value for e in at.sidebar.error] == ["Too many attempts; try again in 2 s."]
    assert users.check_sign_in("mia", MIA_PASSWORD, db=get_db()) is not None
    let_time_pass(db, 2)
    own_password(at, MIA_PASSWORD, NEW_PASSWORD)
    assert [s.value for s in at.sidebar.success] == ["Password changed. Your other sessions have ended."]


def script_like_the_entry_script():
    import streamlit as st

    from crm.ui.auth import require_user
    from crm.ui.session import account_sidebar, current_user

    signed_in = current_user() is not None
    user = require_user()
    if not signed_in:
        st.rerun()  # as app.py: signed in during this run, so again, now with the page
    account_sidebar(user)
    st.header(f"private page for {user.username}")


def main_area_index_of_the_page(at: AppTest) -> int:
    """Where the page's own content starts in the main area's list of elements."""
    return next(i for i, node in at.main.children.items() if str(getattr(node, "value", "")).startswith("private page"))


def test_the_page_keeps_its_place_while_and_after_the_sign_in_cookie_is_set(db, browser):
    # Were the cookie component to come and go, every element of the page would move, and the
    # browser would show the old and the new copy of each until the run ended.
    ready("mia")
    at = AppTest.from_function(script_like_the_entry_script, default_timeout=60)
    at.run()
    submit(at, "mia", MIA_PASSWORD)
    assert private(at) == ["private page for mia"]
    while_setting = main_area_index_of_the_page(at)
    _token, _expiry, component_key = at.session_state["crm_cookie_to_set"]
    at.session_state[component_key] = True  # what the browser answers once the cookie is set
    at.run()
    assert "crm_cookie_to_set" not in at.session_state
    assert private(at) == ["private page for mia"]
    assert main_area_index_of_the_page(at) == while_setting
