"""Google sign-in end to end: Chromium, the app, and oidc-provider-mock standing in for Google."""

from __future__ import annotations

import re
import secrets

import pytest

from crm.auth import audit, users
from tests.e2e.signin_support import chromium_page, free_port, settle, streamlit_app

pytestmark = pytest.mark.slow

ALLOWED_DOMAIN = "corp.example"


@pytest.fixture
def google_app(crm_env):
    from oidc_provider_mock import run_server_in_thread

    with run_server_in_thread() as provider:
        port = free_port()
        secrets_toml = f"""
[auth]
redirect_uri = "http://localhost:{port}/oauth2callback"
cookie_secret = "{secrets.token_hex(32)}"

[auth.google]
client_id = "mini-crm-test"
client_secret = "{secrets.token_hex(8)}"
server_metadata_url = "http://127.0.0.1:{provider.server_port}/.well-known/openid-configuration"

[crm]
allowed_emails = ["guest@partner.example"]
"""
        env = {**crm_env, "CRM_ALLOWED_DOMAINS": ALLOWED_DOMAIN}
        with streamlit_app(env, secrets_toml, port=port) as (url, log):
            yield url


def sign_in_with_google(page, url: str, email: str) -> None:
    page.goto(url)
    page.get_by_role("button", name="Sign in with Google").wait_for()
    settle(page)
    page.get_by_role("button", name="Sign in with Google").click()
    page.wait_for_url(re.compile(r"/oauth2/authorize"))
    page.locator("input[name=sub]").fill(email)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(re.compile(rf"^{re.escape(url)}"))


def test_allowed_user_signs_in_reaches_a_protected_page_and_signs_out(google_app, db):
    url = google_app
    with chromium_page() as page:
        sign_in_with_google(page, url, "ann@corp.example")
        sidebar = page.locator("[data-testid=stSidebar]")
        sidebar.get_by_text("Signed in as").wait_for()
        assert "ann@corp.example" in sidebar.inner_text() and "admin" in sidebar.inner_text()
        page.get_by_role("heading", name="Home").wait_for()  # a page for signed-in users only
        settle(page)
        sidebar.get_by_role("link", name="Segments").click()
        page.get_by_role("heading", name="Segments").wait_for()
        for _ in range(2):  # new tabs reuse the sign-in: the audit log still has one sign-in
            tab = page.context.new_page()
            tab.goto(url)
            tab.locator("[data-testid=stSidebar]").get_by_text("Signed in as").wait_for()
            tab.close()
        assert [e.username for e in audit.query({"action": "signin"}, db=db)] == ["ann@corp.example"]

        settle(page)
        sidebar.get_by_role("button", name="Sign out").click()
        page.wait_for_url(re.compile(r"/oauth2/end_session"))
        page.get_by_role("button", name="End session").click()
        page.goto(url)
        page.get_by_role("button", name="Sign in with Google").wait_for()
        assert page.locator("[data-testid=stSidebar]").get_by_text("Signed in as").count() == 0
        assert page.get_by_role("heading", name="Home").count() == 0
        page.goto(f"{url}/segments")  # straight to a page's address: still the sign-in button
        page.get_by_role("button", name="Sign in with Google").wait_for()
        assert page.get_by_role("heading", name="Segments").count() == 0

    assert users.get_user("ann@corp.example", db=db).role == "admin"  # the first user
    actions = [(e.username, e.action) for e in audit.query({}, db=db)]
    assert ("ann@corp.example", "signin") in actions and ("ann@corp.example", "signout") in actions
    assert actions.count(("ann@corp.example", "signin")) == 1


def test_user_outside_the_allow_list_is_refused_with_a_clear_message(google_app, db):
    url = google_app
    with chromium_page() as page:
        sign_in_with_google(page, url, "eve@elsewhere.example")
        page.get_by_text("Access refused").wait_for()
        main = page.locator("[data-testid=stMain]").inner_text()
        assert "eve@elsewhere.example is not on this workspace's allow-list" in main
        assert page.locator("[data-testid=stSidebar]").get_by_text("Signed in as").count() == 0
        assert page.get_by_role("heading", name="Home").count() == 0
        # a listed email outside the domain gets in, as a viewer (the first user became admin)
        settle(page)
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(re.compile(r"/oauth2/end_session"))
        page.get_by_role("button", name="End session").click()
        sign_in_with_google(page, url, "boss@corp.example")
        page.locator("[data-testid=stSidebar]").get_by_text("Signed in as").wait_for()
        settle(page)
        page.locator("[data-testid=stSidebar]").get_by_role("button", name="Sign out").click()
        page.wait_for_url(re.compile(r"/oauth2/end_session"))
        page.get_by_role("button", name="End session").click()
        sign_in_with_google(page, url, "guest@partner.example")
        sidebar = page.locator("[data-testid=stSidebar]")
        sidebar.get_by_text("Signed in as").wait_for()
        assert "viewer" in sidebar.inner_text()
        # a viewer on Campaigns: told it may not send, and there is no send button
        settle(page)
        sidebar.get_by_role("link", name="Campaigns").click()
        page.get_by_text("Your role (viewer) may preview campaigns but not send them.").wait_for()
        assert page.get_by_role("button", name="Send campaign").count() == 0

    assert users.get_user("eve@elsewhere.example", db=db) is None
    refused = audit.query({"action": "signin.refused"}, db=db)
    assert [(e.target, e.details["reason"]) for e in refused] == [("eve@elsewhere.example", "not on the allow-list")]
