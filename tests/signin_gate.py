"""The sign-in gate under AppTest: a one-file script behind `require_user`, the `browser`
fixture (address and cookies AppTest cannot seed) and the steps the gate tests share."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from streamlit.testing.v1 import AppTest

from crm.auth import CLI, audit, users
from crm.store import get_db

HERE, ELSEWHERE = "203.0.113.7", "198.51.100.2"
MIA_PASSWORD = "mia's own passphrase"


def guarded_script():
    import streamlit as st

    from crm.ui.auth import require_user

    user = require_user()
    st.header(f"private page for {user.username}")


@pytest.fixture
def browser(monkeypatch):
    """What the browser's connection brings: its address and cookies (AppTest cannot seed them)."""
    client = SimpleNamespace(remote_ip=HERE, cookies={}, headers={})
    monkeypatch.setattr("streamlit.runtime.context._get_client_context", lambda: client)
    return client


def gate() -> AppTest:
    at = AppTest.from_function(guarded_script, default_timeout=60)
    at.run()
    return at


def submit(at: AppTest, username: str, password: str) -> None:
    boxes = {t.label: t for t in at.text_input}
    boxes["Username"].input(username)
    boxes["Password"].input(password)
    next(b for b in at.button if b.label == "Sign in").click()
    at.run()


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def private(at: AppTest) -> list[str]:
    return [h.value for h in at.header]


def ready(username: str, password: str = MIA_PASSWORD, role: str = "marketer") -> None:
    user, one_time = users.add_local_user(CLI, username, role, db=get_db())
    users.change_own_password(user, password, password, current=one_time, db=get_db())


def signins() -> list[tuple[str, str]]:
    return [(e.action, e.username) for e in reversed(audit.query({"action": "signin"}, db=get_db()))]


def let_time_pass(db, seconds: float) -> None:
    """Move every recorded failure `seconds` into the past (the back-off reads those times)."""
    for doc in db.signin_throttle.find():
        db.signin_throttle.update_one(
            {"_id": doc["_id"]}, {"$set": {"last_failure": doc["last_failure"] - timedelta(seconds=seconds)}}
        )
