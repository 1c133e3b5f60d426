"""Local accounts end to end: first-start admin with a one-time password, wrong password, sign-out."""

from __future__ import annotations

import pytest

from crm import audit
from crm.auth import users
from tests.e2e.signin_support import (ONE_TIME_PASSWORD, choose_new_password, chromium_page, settle,
                                      streamlit_app, submit_sign_in, wait_for)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NO_PROVIDER = "# no [auth] section: local accounts\n"


def signed_in_banner(page):
    return page.locator("[data-testid=stSidebar]").get_by_text("Signed in as")


def test_local_sign_in_with_wrong_password_one_time_password_and_sign_out(crm_env, db):
    with streamlit_app(crm_env, NO_PROVIDER) as (url, log), chromium_page() as page:
        page.goto(url)
        page.get_by_role("button", name="Sign in").wait_for()
        printed = wait_for(lambda: ONE_TIME_PASSWORD.search(log.read_text()), 30,
                             "the first admin's one-time password on the console")
        username, one_time = printed.group(1), printed.group(2)

        submit_sign_in(page, username, one_time + "x")
        page.get_by_text("Wrong username or password.").wait_for()
        assert signed_in_banner(page).count() == 0

        submit_sign_in(page, username, one_time)
        page.get_by_text("Choose a new password").first.wait_for()
        assert signed_in_banner(page).count() == 0  # nothing else until the password is replaced
        choose_new_password(page, "correct horse battery")
        signed_in_banner(page).wait_for()
        page.get_by_role("heading", name="Home").wait_for()
        assert "admin" in page.locator("[data-testid=stSidebar]").inner_text()

        settle(page)
        page.locator("[data-testid=stSidebar]").get_by_role("button", name="Sign out").click()
        page.get_by_role("button", name="Sign in").wait_for()
        assert signed_in_banner(page).count() == 0
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
        "signin.failed", "signin", "signout", "signin.failed", "signin"]
    assert ("signin.failed", username) in actions and ("user.change_password", username) in actions


def test_a_user_added_by_an_admin_signs_in_with_the_password_handed_over(crm_env, db):
    admin = users.get_user(users.ensure_first_admin(db=db)[0], db=db)
    mia, password = users.add_local_user(admin, "mia", "marketer", name="Mia Marketer", db=db)
    users.change_own_password(mia, "mia's own password", "mia's own password", db=db)
    with streamlit_app(crm_env, NO_PROVIDER) as (url, log), chromium_page() as page:
        page.goto(url)
        submit_sign_in(page, "mia", "not it at all")
        page.get_by_text("Wrong username or password.").wait_for()
        submit_sign_in(page, "MIA", "mia's own password")
        signed_in_banner(page).wait_for()
        sidebar = page.locator("[data-testid=stSidebar]").inner_text()
        assert "Mia Marketer" in sidebar and "marketer" in sidebar
        assert "one-time password" not in log.read_text()  # an admin existed: nothing created
