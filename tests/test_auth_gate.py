"""The local-account gate under AppTest, on a one-file script (no pages/ folder, so every run
goes through the gate): wrong passwords, lock-out after too many, the one-time password change."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from crm import audit
from crm.auth import CLI, users


def guarded_script():
    import streamlit as st

    from crm.ui.auth import require_user

    user = require_user()
    st.header(f"private page for {user.username}")


def gate() -> AppTest:
    at = AppTest.from_function(guarded_script, default_timeout=60)
    at.run()
    return at


def submit(at: AppTest, username: str, password: str) -> None:
    at.text_input[0].input(username)
    at.text_input[1].input(password)
    next(b for b in at.button if b.label == "Sign in").click()
    at.run()


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def ready(username: str, password: str, role: str = "marketer") -> None:
    user, first = users.add_local_user(CLI, username, role)
    users.change_own_password(user, password, password)


def test_a_wrong_password_is_refused_counted_and_audited(db):
    ready("mia", "mia's password")
    at = gate()
    submit(at, "mia", "not mia's password")
    assert errors(at) == ["Wrong username or password."] and not at.header
    assert db.users.find_one({"username": "mia"})["failed_logins"] == 1
    assert [(e.action, e.target) for e in audit.query({"action": "signin."})] == [("signin.failed", "mia")]
    submit(at, "mia", "mia's password")
    assert [h.value for h in at.header] == ["private page for mia"]
    assert db.users.find_one({"username": "mia"})["failed_logins"] == 0


def test_an_unknown_username_gets_the_same_message(db):
    at = gate()
    submit(at, "nobody", "whatever it is")
    assert errors(at) == ["Wrong username or password."] and not at.header


def test_too_many_wrong_passwords_lock_the_account_until_an_admin_resets_it(db):
    ready("mia", "mia's password")
    at = gate()
    for _ in range(users.MAX_FAILED_LOGINS):
        submit(at, "mia", "a wrong guess")
    submit(at, "mia", "mia's password")
    assert any("locked" in message for message in errors(at)) and not at.header
    assert audit.query({"action": "signin.locked"})
    one_time = users.reset_password(CLI, "mia")
    at = gate()
    submit(at, "mia", one_time)
    assert [t.value for t in at.title] == ["Choose a new password"] and not at.header


def test_the_one_time_password_must_be_replaced_before_anything_renders(db):
    username, one_time = users.ensure_first_admin()
    at = gate()
    submit(at, username, one_time)
    assert not at.header
    boxes = {t.label: t for t in at.text_input}
    boxes["New password"].input("short")
    boxes["Repeat new password"].input("short")
    next(b for b in at.button if b.label == "Save password").click()
    at.run()
    assert any("at least 8 characters" in message for message in errors(at)) and not at.header
    boxes = {t.label: t for t in at.text_input}
    boxes["New password"].input("my own password")
    boxes["Repeat new password"].input("my own password")
    next(b for b in at.button if b.label == "Save password").click()
    at.run()
    assert [h.value for h in at.header] == [f"private page for {username}"]
