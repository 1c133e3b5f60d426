"""The local-account gate under AppTest, on a one-file script (no pages/ folder, so every run
goes through the gate): wrong passwords and the back-off they start, the one-time password
change, and the audit log's one row per sign-in however many tabs a cookie opens."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from crm.auth import CLI, audit, session_cookie, throttle, users
from crm.auth.signin_settings import cookie_secret
from crm.config import load_settings
from crm.store import get_db
from crm.ui.session import AUTH_COOKIE
from tests.signin_gate import (
    ELSEWHERE,
    HERE,
    MIA_PASSWORD,
    errors,
    gate,
    let_time_pass,
    private,
    ready,
    signins,
    submit,
)


def test_a_wrong_password_is_refused_and_audited_and_the_right_one_lets_in(db, browser):
    ready("mia")
    at = gate()
    submit(at, "mia", "not mia's password")
    assert errors(at) == ["Wrong username or password."] and not private(at)
    failed = audit.query({"action": "signin."}, db=get_db())
    assert [(e.action, e.target, e.details["client"]) for e in failed] == [("signin.failed", "mia", HERE)]
    submit(at, "mia", MIA_PASSWORD)
    assert private(at) == ["private page for mia"]
    assert signins() == [("signin", "mia")]
    assert db.signin_throttle.count_documents({"kind": throttle.ACCOUNT}) == 0  # forgiven


def test_an_unknown_username_gets_the_same_message(db, browser):
    at = gate()
    submit(at, "nobody", "whatever it is")
    assert errors(at) == ["Wrong username or password."] and not private(at)


def test_after_five_wrong_passwords_the_form_says_how_long_to_wait(db, browser):
    ready("mia")
    at = gate()
    for _ in range(4):
        submit(at, "mia", "a wrong guess")
        assert errors(at) == ["Wrong username or password."]
    submit(at, "mia", "a wrong guess")
    assert errors(at) == ["Wrong username or password. Too many attempts; try again in 2 s."]
    submit(at, "mia", MIA_PASSWORD)  # even the right password waits: it is not even checked
    assert errors(at)[0].startswith("Too many attempts; try again in ") and not private(at)
    assert len(audit.query({"action": "signin.failed"}, db=get_db())) == 5 and signins() == []
    let_time_pass(db, 2)
    submit(at, "mia", MIA_PASSWORD)
    assert private(at) == ["private page for mia"]


def test_an_admin_is_never_locked_out_for_good(db, browser):
    username, one_time = users.ensure_first_admin(db=get_db())
    now = datetime.now(UTC)
    for _ in range(100):
        throttle.note_failure(username, HERE, now=now, db=db)
    at = gate()
    submit(at, username, one_time)
    (message,) = errors(at)
    assert re.fullmatch(r"Too many attempts; try again in (\d+) s\.", message)
    assert 800 < int(re.search(r"\d+", message).group()) <= 900  # 15 minutes at most
    let_time_pass(db, 15 * 60)
    submit(at, username, one_time)
    assert [t.value for t in at.title] == ["Choose a new password"]


def test_guesses_from_another_client_do_not_keep_the_account_waiting(db, browser):
    ready("mia")
    browser.remote_ip = ELSEWHERE
    at = gate()
    for _ in range(6):
        submit(at, "mia", "a wrong guess")
    assert "Too many attempts" in errors(at)[0]
    browser.remote_ip = HERE
    at = gate()
    submit(at, "mia", MIA_PASSWORD)
    assert private(at) == ["private page for mia"]


@pytest.mark.parametrize(
    "lift", [lambda: users.unlock(CLI, "mia", db=get_db()), lambda: users.reset_password(CLI, "mia", db=get_db())]
)
def test_an_unlock_or_a_password_reset_ends_the_wait_at_once(db, browser, lift):
    ready("mia")
    now = datetime.now(UTC)
    for _ in range(12):
        throttle.note_failure("mia", HERE, now=now, db=db)
    lift()
    at = gate()
    submit(at, "mia", "still wrong, but checked")
    assert errors(at) == ["Wrong username or password."]


def test_the_one_time_password_must_be_replaced_by_a_strong_new_one(db, browser):
    username, one_time = users.ensure_first_admin(db=get_db())
    at = gate()
    submit(at, username, one_time)
    assert not private(at)
    assert any("At least 10 characters" in c.value for c in at.caption)  # the rules, said up front

    def choose(password: str) -> None:
        boxes = {t.label: t for t in at.text_input}
        boxes["One-time password"].input(one_time)
        boxes["New password"].input(password)
        boxes["Repeat new password"].input(password)
        next(b for b in at.button if b.label == "Save password").click()
        at.run()

    choose(one_time)
    assert errors(at) == ["new password: choose a password different from your one-time password"]
    choose("password123")
    assert errors(at) == [
        "new password: too easy to guess. This is a very common password. "
        "Add another word or two. Uncommon words are better."
    ]
    choose("admin12345")
    assert errors(at)[0].startswith("new password: too easy to guess.") and not private(at)
    choose("my own unusual passphrase")
    assert private(at) == [f"private page for {username}"]


def test_reopening_tabs_with_the_sign_in_cookie_adds_no_sign_in_rows(db, browser):
    ready("mia")
    at = gate()
    submit(at, "mia", MIA_PASSWORD)
    assert signins() == [("signin", "mia")]
    token = session_cookie.issue(
        "mia", users.get_user("mia", db=get_db()).session_version, cookie_secret(load_settings(), {}), 7
    )
    browser.cookies = {AUTH_COOKIE: token}
    for _ in range(3):  # three new tabs: each is a new session that the cookie signs in
        tab = gate()
        assert private(tab) == ["private page for mia"] and not tab.text_input
        tab.run()
        assert private(tab) == ["private page for mia"]
    assert signins() == [("signin", "mia")]
    browser.cookies = {AUTH_COOKIE: token + "forged"}
    assert not private(gate())
