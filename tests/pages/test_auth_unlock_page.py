"""Settings' users list: who must wait after wrong passwords, and the admin's Unlock."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from crm.auth import CLI, audit, throttle, users
from tests.auth_fixtures import sign_in
from tests.support import ROOT


def test_an_admin_sees_who_waits_and_unlocks_them_on_settings(db):
    users.add_local_user(CLI, "mia", "marketer", db=db)
    for _ in range(8):
        throttle.note_failure("mia", "203.0.113.7", db=db)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    sign_in(at, "admin")
    at.run()
    at.switch_page("app_pages/settings.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value.set_index("username")
    assert table.loc["mia", "sign-in wait (s)"] > 0
    at.selectbox(key="change-user-name").select("mia")
    next(b for b in at.button if b.label == "Unlock").click()
    at.run()
    assert any("mia may sign in again now" in s.value for s in at.success), [e.value for e in at.error]
    assert throttle.wait_seconds("mia", "203.0.113.7", db=db) == 0
    assert [e.username for e in audit.query({"action": "user.unlock"}, db=db)] == ["test-admin"]
