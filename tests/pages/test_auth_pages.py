"""Pages under AppTest: nothing private without a signed-in user, on every run; Google refusals;
the Settings page for admins only."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from crm.auth import audit, users
from crm.demo import DemoSpec
from crm.store import get_db
from tests.auth_fixtures import sign_in
from tests.demo_copy import demo_data
from tests.support import ROOT

PAGES = sorted(f"app_pages/{path.name}" for path in (ROOT / "app_pages").glob("*.py"))
GOOGLE = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "x" * 32,
    "google": {
        "client_id": "id",
        "client_secret": "secret",
        "server_metadata_url": "https://accounts.google.com/.well-known/openid-configuration",
    },
}


def app() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)


def rendered(at: AppTest) -> str:
    """Everything the run sent to the browser, as text (element protos, data frames included)."""
    parts: list[str] = []

    def walk(node) -> None:
        if getattr(node, "proto", None) is not None:
            parts.append(str(node.proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(parts)


@pytest.fixture
def shop(db):
    """A small shop; returns strings that only customer data contains."""
    demo_data(db, DemoSpec(customers=60, orders=300, seed=5))
    private = set()
    for customer in db.customers.find({}, {"customer_id": 1, "email": 1, "name": 1}):
        private |= {customer["customer_id"], customer.get("email") or "", customer.get("name") or ""}
    return {value for value in private if len(value) > 4}


def shows_nothing_private(at: AppTest, private: set[str]) -> None:
    assert not at.exception, [e.value for e in at.exception]
    text = rendered(at)
    leaked = sorted(value for value in private if value in text)
    assert not leaked, f"customer data on a signed-out page: {leaked[:5]}"
    assert not at.metric and not at.dataframe and not at.get("plotly_chart")


@pytest.mark.parametrize("page", PAGES)
def test_no_page_shows_customer_data_without_a_signed_in_user_on_any_run(shop, page):
    at = app()
    at.run()
    shows_nothing_private(at, shop)
    assert any(button.label == "Sign in" for button in at.button)
    at.switch_page(page)
    for _ in range(3):  # and on every rerun
        at.run()
        shows_nothing_private(at, shop)


def test_the_private_data_check_does_find_customer_data_when_signed_in(shop):
    at = app()
    sign_in(at, "viewer")
    at.run()
    at.switch_page("app_pages/data.py")
    at.run()
    assert not at.exception
    assert any(value in rendered(at) for value in shop)


def google_app(monkeypatch, email: str) -> AppTest:
    monkeypatch.setenv("CRM_ALLOWED_DOMAINS", "corp.example")
    at = app()
    at.secrets["auth"] = GOOGLE
    at.user = {"is_logged_in": True, "email": email, "name": email.split("@")[0].title()}
    return at


def test_google_user_outside_the_allow_list_is_refused_on_every_run_and_audited_once(shop, monkeypatch):
    at = google_app(monkeypatch, "eve@elsewhere.example")
    for page in [None, "app_pages/data.py", "app_pages/data.py"]:
        if page:
            at.switch_page(page)
        at.run()
        shows_nothing_private(at, shop)
    assert any("eve@elsewhere.example is not on this workspace's allow-list" in e.value for e in at.error)
    assert users.get_user("eve@elsewhere.example", db=get_db()) is None
    assert [(e.action, e.target) for e in audit.query({"action": "signin."}, db=get_db())] == [
        ("signin.refused", "eve@elsewhere.example")
    ]


def test_google_user_on_the_allow_list_gets_in_and_the_first_is_admin(shop, monkeypatch):
    at = google_app(monkeypatch, "Ann@Corp.example")
    at.run()
    assert not at.exception and not at.error
    assert [t.value for t in at.title] == ["Home"]
    assert any("Signed in as" in c.value and "admin" in c.value for c in at.sidebar.caption)
    assert users.get_user("ann@corp.example", db=get_db()).role == "admin"
    assert [e.action for e in audit.query({"username": "ann@corp.example"}, db=get_db())] == ["signin"]


def test_an_unverified_email_is_refused_even_in_an_allowed_domain(shop, monkeypatch):
    at = google_app(monkeypatch, "mallory@corp.example")
    at.user = {"is_logged_in": True, "email": "mallory@corp.example", "email_verified": False}
    at.run()
    assert any("has not verified mallory@corp.example" in e.value for e in at.error)
    shows_nothing_private(at, shop)
    assert users.get_user("mallory@corp.example", db=get_db()) is None


def test_a_disabled_google_user_is_refused(shop, monkeypatch):
    users.oidc_sign_in("boss@corp.example", "Boss", "google", "viewer", db=get_db())
    users.oidc_sign_in("ann@corp.example", "Ann", "google", "viewer", db=get_db())
    users.set_active(users.get_user("boss@corp.example", db=get_db()), "ann@corp.example", False, db=get_db())
    at = google_app(monkeypatch, "ann@corp.example")
    at.run()
    assert any("disabled" in e.value for e in at.error)
    shows_nothing_private(at, shop)


def open_settings(role: str) -> AppTest:
    at = app()
    sign_in(at, role)
    at.run()
    at.switch_page("app_pages/settings.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("role", ["viewer", "marketer"])
def test_settings_are_for_admins_only(db, role):
    at = open_settings(role)
    assert any("Settings are for admins" in i.value for i in at.info)
    assert not at.tabs and not at.dataframe


def test_admin_creates_an_api_key_shown_once_then_revokes_it(db):
    at = open_settings("admin")
    name_box = next(t for t in at.text_input if t.label == "Name (who or what uses it)")
    name_box.input("shop-sync")
    next(b for b in at.button if b.label == "Create key").click()
    at.run()
    assert not at.error, [e.value for e in at.error]
    clear = at.code[0].value
    stored = db.api_keys.find_one({"name": "shop-sync"})
    assert clear.startswith("crm_") and clear not in str(stored)
    at.run()
    assert not at.code  # shown once
    next(b for b in at.button if b.label == "Revoke").click()
    at.run()
    assert any("Revoked shop-sync" in s.value for s in at.success), (
        [e.value for e in at.error],
        [s.value for s in at.success],
        at.exception,
    )
    assert db.api_keys.find_one({"name": "shop-sync"})["revoked_at"] is not None
    assert [e.action for e in audit.query({"action": "apikey."}, db=get_db())] == ["apikey.revoke", "apikey.create"]


def test_admin_adds_a_user_and_resets_a_password_each_shown_once(db):
    at = open_settings("admin")
    next(t for t in at.text_input if t.label == "Username").input("newbie")
    at.selectbox(key="add-user-role").select("marketer")
    next(b for b in at.button if b.label == "Add user").click()
    at.run()
    assert not at.error, [e.value for e in at.error]
    first = at.code[0].value
    assert users.check_password(first, db.users.find_one({"username": "newbie"})["password_hash"])
    at.selectbox(key="change-user-name").select("newbie")
    next(b for b in at.button if b.label == "Reset password").click()
    at.run()
    second = at.code[0].value
    assert second != first
    assert users.check_password(second, db.users.find_one({"username": "newbie"})["password_hash"])


def test_the_last_admin_cannot_be_demoted_from_the_page(db):
    at = open_settings("admin")
    at.selectbox(key="change-user-name").select("test-admin")
    at.selectbox(key="change-user-role").select("viewer")
    next(b for b in at.button if b.label == "Set role").click()
    at.run()
    assert any("last admin" in e.value for e in at.error)
    assert users.get_user("test-admin", db=get_db()).role == "admin"


def test_status_lists_each_part_and_the_audit_log_filters(db):
    audit.record("someone", "segment.save", "big spenders", db=get_db())
    at = open_settings("admin")
    status = " ".join(m.value for m in at.markdown)
    for part in ("Database", "Analytic copy", "Redis", "Gemini", "Sign-in"):
        assert f"**{part}**" in status
    assert "answered ping" in status and "local accounts" in status and "every document loaded" in status
    at.selectbox(key="audit-action").select("segment.save")
    at.run()
    log = at.dataframe[-1].value
    assert list(log["action"]) == ["segment.save"] and list(log["target"]) == ["big spenders"]


def test_sign_out_clears_the_session_and_shows_sign_in_again(shop):
    at = app()
    sign_in(at, "marketer")
    at.session_state["customers-search"] = "what the last user typed"
    at.run()
    next(b for b in at.sidebar.button if b.label == "Sign out").click()
    at.run()
    assert "customers-search" not in at.session_state
    assert any(button.label == "Sign in" for button in at.button)
    shows_nothing_private(at, shop)
    at.run()
    shows_nothing_private(at, shop)
    assert [e.action for e in audit.query({"action": "signout"}, db=get_db())] == ["signout"]


def test_admin_sets_and_turns_off_the_frequency_cap(db):
    from crm.campaigns.sending_rules import FrequencyCap, frequency_cap

    at = open_settings("admin")
    assert any("off: every campaign reaches everyone" in c.value for c in at.caption)
    next(t for t in at.toggle if t.label == "Cap how many messages a customer gets").set_value(True)
    next(n for n in at.number_input if n.label == "At most this many messages").set_value(2)
    at.radio[0].set_value("each channel apart")
    next(b for b in at.button if b.label == "Save").click()
    at.run()
    assert not at.error, [e.value for e in at.error]
    assert frequency_cap(get_db()) == FrequencyCap(2, 7, across_channels=False)
    assert any("at most 2 message(s) per customer in 7 day(s), on each channel" in s.value for s in at.success)
    next(t for t in at.toggle if t.label == "Cap how many messages a customer gets").set_value(False)
    next(b for b in at.button if b.label == "Save").click()
    at.run()
    assert frequency_cap(get_db()) is None
    assert [e.action for e in audit.query({"action": "settings."}, db=get_db())] == ["settings.sending"] * 2


def test_admin_registers_a_dlt_template_and_a_bad_one_is_named(db):
    from crm.campaigns.dlt import dlt_templates

    at = open_settings("admin")
    next(t for t in at.text_input if t.label == "Template id (from the DLT platform)").input("1107161234567890123")
    next(t for t in at.text_input if t.label == "Sender header").input("mincrm")
    next(t for t in at.text_area if t.label == "Approved text").input("Hi {#var#}, 20% off")
    next(b for b in at.button if b.label == "Register template").click()
    at.run()
    assert any("sender header" in e.value and "six capital letters" in e.value for e in at.error)
    assert dlt_templates(get_db()) == []
    next(t for t in at.text_input if t.label == "Template id (from the DLT platform)").input("1107161234567890123")
    next(t for t in at.text_input if t.label == "Sender header").input("MINCRM")
    next(t for t in at.text_area if t.label == "Approved text").input("Hi {#var#}, 20% off")
    next(b for b in at.button if b.label == "Register template").click()
    at.run()
    assert not at.exception and [t.header for t in dlt_templates(get_db())] == ["MINCRM"]
