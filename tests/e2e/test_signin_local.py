"""Local accounts end to end: only the sign-in form before sign-in, first-start admin with a
one-time password, wrong password, sign-out, one audited sign-in however many tabs open, and a
password reset that the sign-in cookie from before it cannot get past."""

from __future__ import annotations

import pytest

from crm.auth import CLI, audit, users
from crm.ui.session import AUTH_COOKIE, ENDED_MESSAGE
from tests.e2e.signin_support import (
    ONE_TIME_PASSWORD,
    choose_new_password,
    chromium_page,
    free_port,
    settle,
    streamlit_app,
    submit_sign_in,
    wait_for,
)

pytestmark = pytest.mark.slow

NO_PROVIDER = "# no [auth] section: local accounts\n"


PAGE_NAMES = ["Home", "Data", "Segments", "Campaigns", "History", "Settings"]


def signed_in_banner(page):
    return page.locator("[data-testid=stSidebar]").get_by_text("Signed in as")


def only_the_sign_in_form(page) -> None:
    """The sign-in form and nothing of the app: no navigation, no sidebar, no page links."""
    page.get_by_role("button", name="Sign in").wait_for()
    settle(page)
    assert page.locator("[data-testid=stForm]").count() == 1
    assert page.locator("[data-testid=stSidebarNav], [data-testid=stSidebar], [data-testid=stTopNav]").count() == 0
    for name in PAGE_NAMES:
        assert page.get_by_role("link", name=name).count() == 0, name
    text = page.locator("[data-testid=stMain]").inner_text()
    assert not any(name in text for name in PAGE_NAMES[1:]), text


def test_before_sign_in_the_page_shows_only_the_sign_in_form(crm_env, db):
    admin = users.get_user(users.ensure_first_admin(db=db)[0], db=db)
    mia, one_time = users.add_local_user(admin, "mia", "marketer", db=db)
    users.change_own_password(mia, "mia's own password", "mia's own password", current=one_time, db=db)
    with streamlit_app(crm_env, NO_PROVIDER) as (url, _log), chromium_page() as page:
        # A page's address first, on a server nobody has opened yet: Streamlit would run the page
        # on its own and list every file of a pages/ folder in the sidebar (ours is app_pages/).
        page.goto(f"{url}/segments")
        only_the_sign_in_form(page)
        page.goto(url)
        only_the_sign_in_form(page)
        page.goto(f"{url}/data")
        only_the_sign_in_form(page)
        submit_sign_in(page, "mia", "mia's own password")
        signed_in_banner(page).wait_for()
        nav = page.locator("[data-testid=stSidebarNav]")
        for name in PAGE_NAMES:
            nav.get_by_role("link", name=name).wait_for()
        page.get_by_role("heading", name="Data").first.wait_for()  # the page the link asked for
        assert page.url.endswith("/data")


def test_local_sign_in_with_wrong_password_one_time_password_and_sign_out(crm_env, db):
    with streamlit_app(crm_env, NO_PROVIDER) as (url, log), chromium_page() as page:
        page.goto(url)
        page.get_by_role("button", name="Sign in").wait_for()
        printed = wait_for(
            lambda: ONE_TIME_PASSWORD.search(log.read_text()), 30, "the first admin's one-time password on the console"
        )
        username, one_time = printed.group(1), printed.group(2)

        submit_sign_in(page, username, one_time + "x")
        page.get_by_text("Wrong username or password.").wait_for()
        assert signed_in_banner(page).count() == 0

        submit_sign_in(page, username, one_time)
        page.get_by_text("Choose a new password").first.wait_for()
        assert signed_in_banner(page).count() == 0  # nothing else until the password is replaced
        choose_new_password(page, one_time, "correct horse battery")
        signed_in_banner(page).wait_for()
        page.get_by_role("heading", name="Home").wait_for()
        assert "admin" in page.locator("[data-testid=stSidebar]").inner_text()
        # the cookie component sets the cookie once it has loaded: sign out after that, not before
        wait_for(lambda: any(c["name"] == AUTH_COOKIE for c in page.context.cookies()), 30, "the sign-in cookie")

        settle(page)
        page.locator("[data-testid=stSidebar]").get_by_role("button", name="Sign out").click()
        page.get_by_role("button", name="Sign in").wait_for()
        assert signed_in_banner(page).count() == 0
        settle(page)  # the cookie component deletes the cookie once the browser has loaded it
        page.reload()  # the sign-in cookie is gone too: a new session is not signed in
        page.get_by_role("button", name="Sign in").wait_for()
        assert signed_in_banner(page).count() == 0

        submit_sign_in(page, username, one_time)  # the one-time password is used up
        page.get_by_text("Wrong username or password.").wait_for()
        submit_sign_in(page, username, "correct horse battery")
        signed_in_banner(page).wait_for()

    assert not users.get_user(username, db=db).must_change_password
    actions = [(e.action, e.target) for e in reversed(audit.query({}, db=db))]
    assert [a for a, _ in actions if a.startswith(("signin", "signout"))] == [
        "signin.failed",
        "signin",
        "signout",
        "signin.failed",
        "signin",
    ]
    assert ("signin.failed", username) in actions and ("user.change_password", username) in actions


def test_a_user_added_by_an_admin_signs_in_with_the_password_handed_over(crm_env, db):
    admin = users.get_user(users.ensure_first_admin(db=db)[0], db=db)
    mia, password = users.add_local_user(admin, "mia", "marketer", name="Mia Marketer", db=db)
    users.change_own_password(mia, "mia's own password", "mia's own password", current=password, db=db)
    with streamlit_app(crm_env, NO_PROVIDER) as (url, log), chromium_page() as page:
        page.goto(url)
        submit_sign_in(page, "mia", "not it at all")
        page.get_by_text("Wrong username or password.").wait_for()
        submit_sign_in(page, "MIA", "mia's own password")
        signed_in_banner(page).wait_for()
        sidebar = page.locator("[data-testid=stSidebar]").inner_text()
        assert "Mia Marketer" in sidebar and "marketer" in sidebar
        assert "one-time password" not in log.read_text()  # an admin existed: nothing created


def test_a_bookmarked_page_opens_the_whole_app_after_a_server_restart(crm_env, db):
    admin = users.get_user(users.ensure_first_admin(db=db)[0], db=db)
    mia, one_time = users.add_local_user(admin, "mia", "marketer", db=db)
    users.change_own_password(mia, "mia's own password", "mia's own password", current=one_time, db=db)
    port = free_port()
    with chromium_page() as page:
        with streamlit_app(crm_env, NO_PROVIDER, port=port) as (url, _log):
            page.goto(url)
            submit_sign_in(page, "mia", "mia's own password")
            signed_in_banner(page).wait_for()
            settle(page)  # the sign-in cookie is set by the first signed-in run
            wait_for(lambda: any(c["name"] == AUTH_COOKIE for c in page.context.cookies()), 30, "the sign-in cookie")
            page.goto("about:blank")  # the tab is closed: nothing reconnects to the next server
        # A fresh server whose first visitor opens a bookmarked page, signed in by the cookie.
        with streamlit_app(crm_env, NO_PROVIDER, port=port) as (url, _log):
            page.goto(f"{url}/history")
            signed_in_banner(page).wait_for()
            nav = page.locator("[data-testid=stSidebarNav]")
            for name in PAGE_NAMES:  # by their titles, not their files' names
                nav.get_by_role("link", name=name).wait_for()
            assert ".py" not in nav.inner_text() and "app_pages" not in nav.inner_text()
            page.get_by_role("button", name="Sign out").wait_for()
            page.get_by_role("heading", name="History").first.wait_for()
            assert page.url.endswith("/history")


def test_new_tabs_signed_in_by_the_cookie_add_no_sign_in_rows(crm_env, db):
    admin = users.get_user(users.ensure_first_admin(db=db)[0], db=db)
    mia, one_time = users.add_local_user(admin, "mia", "marketer", db=db)
    users.change_own_password(mia, "mia's own password", "mia's own password", current=one_time, db=db)
    with streamlit_app(crm_env, NO_PROVIDER) as (url, _log), chromium_page() as page:
        page.goto(url)
        submit_sign_in(page, "mia", "mia's own password")
        signed_in_banner(page).wait_for()
        settle(page)  # the sign-in cookie is set by the first signed-in run
        wait_for(lambda: any(c["name"] == AUTH_COOKIE for c in page.context.cookies()), 30, "the sign-in cookie")
        for _ in range(3):
            tab = page.context.new_page()
            tab.goto(url)
            signed_in_banner(tab).wait_for()
            tab.close()
        page.reload()
        signed_in_banner(page).wait_for()
    assert [(e.action, e.username) for e in audit.query({"action": "signin"}, db=db)] == [("signin", "mia")]


def test_after_a_reset_the_cookie_from_before_opens_nothing_and_the_one_time_password_is_asked_again(crm_env, db):
    admin = users.get_user(users.ensure_first_admin(db=db)[0], db=db)
    mia, one_time = users.add_local_user(admin, "mia", "marketer", db=db)
    users.change_own_password(mia, "mia's own password", "mia's own password", current=one_time, db=db)
    with streamlit_app(crm_env, NO_PROVIDER) as (url, _log), chromium_page() as page:
        page.goto(url)
        submit_sign_in(page, "mia", "mia's own password")
        signed_in_banner(page).wait_for()
        settle(page)
        wait_for(lambda: any(c["name"] == AUTH_COOKIE for c in page.context.cookies()), 30, "the sign-in cookie")
        reset = users.reset_password(CLI, "mia", db=db)  # an admin resets the account

        tab = page.context.new_page()  # a new tab: the browser sends the cookie from before the reset
        tab.goto(url)
        tab.get_by_text(ENDED_MESSAGE).wait_for()
        tab.get_by_role("button", name="Sign in").wait_for()
        settle(tab)
        assert signed_in_banner(tab).count() == 0 and tab.get_by_text("Choose a new password").count() == 0
        tab.close()

        settle(page)
        page.locator("[data-testid=stSidebarNav]").get_by_role("link", name="Data").click()  # the open tab
        page.get_by_text(ENDED_MESSAGE).wait_for()
        settle(page)  # what the run before drew stays until this run ends
        assert signed_in_banner(page).count() == 0

        submit_sign_in(page, "mia", reset)
        choose_new_password(page, "a wrong one-time password", "mia's second passphrase")
        page.get_by_text("one-time password: that is not your one-time password").wait_for()
        choose_new_password(page, reset, "mia's second passphrase")
        signed_in_banner(page).wait_for()
    assert users.check_sign_in("mia", "mia's second passphrase", db=db) is not None
