"""Sign-in in the Streamlit app: the gate at the top of app.py and `current_user()` for pages.

Google (or any OIDC provider) when secrets have an [auth] section with one, through Streamlit's
native st.login/st.user/st.logout; otherwise local accounts: our own sign-in form, checked against
the users collection, and our own sign-in cookie (crm.auth.session_cookie), which
streamlit-authenticator's cookie component writes and deletes.

Every sign-in is bound to the account's session version (crm.auth.users): a session keeps the
version it was let in under, the cookie carries it, an OIDC login is recorded with it. Each run
compares it with the account's, so after a password reset or change, a disable or a role change
no session, cookie or login from before still opens anything: it is told its session ended.

The audit log gets one "signin" per sign-in that really happens (a password typed, an OIDC
login), not one per browser tab: a tab that a cookie signs in continues that sign-in. Wrong
passwords, refusals and sign-outs are recorded too. Wrong passwords slow the next attempts down
(crm.auth.throttle) instead of locking the account.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import NoReturn

import streamlit as st

from crm.auth import audit, one_time_passwords, session_cookie, throttle, users
from crm.auth.signin_settings import OidcProvider, allow_list, cookie_secret, default_role, oidc_provider
from crm.config import load_settings
from crm.errors import CRMError
from crm.ui.data import get_database
from crm.ui.errors import show_error

AUTH_COOKIE = "crm_session"
AUTH_COOKIE_DAYS = 7.0
SIGNED_IN_KEY = "crm_signed_in"  # username the gate let in (so sign-in is audited once)
_REFUSED = "crm_refused"  # email refused in this session (audited once)
_SIGN_OUT = "crm_sign_out"  # set by the sign-out button, acted on by the next run
_PASSWORD_TYPED = "crm_password_typed"  # username whose password was typed in this session
_SET_COOKIE = "crm_set_cookie"  # a password sign-in: the first signed-in run sets the cookie
_COOKIE_TO_SET = "crm_cookie_to_set"  # (token, expiry, component key) of a cookie not yet set
SESSION_VERSION_KEY = "crm_session_version"  # the account's session version this session began under
_ENDED = "crm_session_ended"  # this session was ended by a change to its account: say so
_NO_COOKIE = "crm_no_cookie"  # signed out or ended: the cookie this session started with is void
_CHANGED = "crm_password_changed"  # this session changed its password: say so once
ENDED_MESSAGE = (
    "Your session ended because your account changed (a password reset or change, a new role, "
    "or access turned off or on). Sign in again."
)
OIDC_ENDED_MESSAGE = (
    "Your session ended because your account changed (a new role, or access turned off or "
    "on). Sign out, then sign in again."
)


def secrets() -> dict:
    """st.secrets as a dict; empty when there is no secrets file."""
    try:
        return st.secrets.to_dict()
    except FileNotFoundError:
        return {}


def provider() -> OidcProvider | None:
    return oidc_provider(secrets())


def current_user() -> users.User | None:
    """The signed-in, active user of this session, or None. Every page calls this first."""
    if st.session_state.get(_SIGN_OUT):
        return None  # signing out: the gate finishes it on this run
    oidc = provider()
    if oidc is not None:
        if not st.user.is_logged_in or not st.user.get("email"):
            return None
        username = str(st.user.get("email")).strip().lower()
    else:
        if st.session_state.get("authentication_status") is not True:
            return None
        username = st.session_state.get("username") or ""
    if st.session_state.get(SIGNED_IN_KEY) != username:
        return None  # the gate has not let this session in (refused, or not yet checked)
    user = users.get_user(username, db=get_database())
    if user is None or not user.active or user.must_change_password:
        return None
    if user.session_version != st.session_state.get(SESSION_VERSION_KEY):
        return None  # the account changed since this session began: the gate ends it
    return user


def sign_in_gate() -> users.User:
    """Show sign-in (or a refusal) and stop the run, until someone allowed is signed in."""
    oidc = provider()
    return _oidc_gate(oidc) if oidc is not None else _local_gate()


def account_sidebar(user: users.User) -> None:
    """Who is signed in, and the way out."""
    if st.session_state.pop(_SET_COOKIE, False):
        # Here rather than in the run that checked the password: that run ends in st.rerun().
        token = session_cookie.issue(user.username, st.session_state[SESSION_VERSION_KEY], _secret(), AUTH_COOKIE_DAYS)
        expires_at = datetime.now() + timedelta(days=AUTH_COOKIE_DAYS)
        st.session_state[_COOKIE_TO_SET] = (token, expires_at, f"crm_cookie_set_{uuid.uuid4().hex[:8]}")
    # The same slot on every run, filled or not: a component that comes and goes would shift the
    # page's elements, and for a moment the browser would show the old and the new copy of each.
    cookie_slot = st.container()
    if _COOKIE_TO_SET in st.session_state:
        token, expires_at, key = st.session_state[_COOKIE_TO_SET]
        if st.session_state.get(key):  # the browser ran the component: the cookie is set
            del st.session_state[_COOKIE_TO_SET]
        else:
            # Again on each run until then: a run cut short by a rerun can drop the component
            # before the browser ran it, and the same element again is not run twice.
            with cookie_slot:
                _cookie_writer().set(AUTH_COOKIE, token, key=key, expires_at=expires_at)
    with st.sidebar:
        st.caption(f"Signed in as **{user.name or user.username}** · {user.role}")
        if st.session_state.pop(_CHANGED, False):
            st.success("Password changed. Your other sessions have ended.")
        if user.provider == users.LOCAL:
            _own_password_form(user)
        st.button("Sign out", key="crm_sign_out_button", on_click=_ask_sign_out)


def _own_password_form(user: users.User) -> None:
    """Change one's password: the current one is asked for, so an open session alone is not enough."""
    with st.popover("Change password"), st.form("crm_own_password", clear_on_submit=True):
        st.caption(users.PASSWORD_RULES)
        current = st.text_input("Current password", type="password", autocomplete="current-password")
        new = st.text_input("New password", type="password", autocomplete="new-password")
        repeat = st.text_input("Repeat new password", type="password", autocomplete="new-password")
        if st.form_submit_button("Save password", type="primary") and _change_password(user, current, new, repeat):
            st.session_state[_CHANGED] = True
            st.rerun()


def _change_password(user: users.User, current: str, new: str, repeat: str) -> bool:
    """Change the password from one of the forms; False (and the reason shown) if refused.

    Wrong current passwords count toward the sign-in back-off: an open session is no place to
    guess the password from. Once changed, every sign-in of the account is void, this one's cookie
    too, so the session carries on under the new version and sets a new cookie.
    """
    db = get_database()
    here = client()
    wait = throttle.wait_seconds(user.username, here, db=db)
    if wait:
        show_error(f"Too many attempts; try again in {wait} s.")
        return False
    try:
        changed = users.change_own_password(user, new, repeat, current=current, db=db)
    except users.WrongPassword as exc:
        wait = throttle.note_failure(user.username, here, db=db)
        show_error(str(exc) + (f". Too many attempts; try again in {wait} s." if wait else ""))
        return False
    except CRMError as exc:
        show_error(str(exc))
        return False
    throttle.note_success(user.username, here, db=db)
    st.session_state[SESSION_VERSION_KEY] = changed.session_version
    st.session_state[_SET_COOKIE] = True
    return True


def client() -> str:
    """Who is knocking, for the sign-in back-off: the connection's address (see crm.auth.throttle)."""
    address = st.context.ip_address
    return throttle.client_name(address if isinstance(address, str) else None)  # AppTest gives a mock


def _ask_sign_out() -> None:
    st.session_state[_SIGN_OUT] = True


# streamlit-authenticator's own keys: `logout` stops its cookie from signing this session in again.
_AUTHENTICATOR_KEYS = {"logout", "authentication_status", "username", "name", "email", "roles"}
_KEPT = _AUTHENTICATOR_KEYS | {_NO_COOKIE, _ENDED}


def _clear_session() -> None:
    """Forget everything the signed-out user left in this session (filters, selections, results)."""
    for key in list(st.session_state.keys()):
        if key not in _KEPT:
            del st.session_state[key]


def _refuse(email: str, reason: str, message: str) -> NoReturn:
    if st.session_state.get(_REFUSED) != email:
        audit.record(email or "unknown", "signin.refused", email, {"reason": reason}, db=get_database())
        st.session_state[_REFUSED] = email
    st.session_state.pop(SIGNED_IN_KEY, None)
    show_error(message)
    st.button("Sign out", key="crm_refused_sign_out", on_click=_ask_sign_out)
    st.stop()


def _oidc_gate(oidc: OidcProvider) -> users.User:
    db = get_database()
    if st.session_state.pop(_SIGN_OUT, False) and st.user.is_logged_in:
        who = st.session_state.pop(SIGNED_IN_KEY, None)
        audit.record(
            who or str(st.user.get("email") or "unknown"),
            "signout",
            "",
            {"provider": oidc.stored_as} if who else {"provider": oidc.stored_as, "refused": True},
            db=db,
        )
        st.session_state.pop(_REFUSED, None)
        st.logout()
        st.stop()  # st.logout() navigates away; nothing more may render with an empty st.user
    if not st.user.is_logged_in:
        if not (secrets().get("auth") or {}).get("cookie_secret"):
            show_error(
                "Sign-in is not set up: add `cookie_secret` (a long random string) to the [auth] "
                "section of .streamlit/secrets.toml. See the README, 'Google sign-in'."
            )
            st.stop()
        st.title("Mini CRM")
        st.write("Sign in with your work account to continue.")
        st.button(
            f"Sign in with {(oidc.name or 'your provider').capitalize()}",
            type="primary",
            on_click=st.login,
            args=(oidc.name,) if oidc.name else (),
        )
        st.stop()
    email = str(st.user.get("email") or "").strip().lower()
    if st.session_state.get(SIGNED_IN_KEY) == email:
        user = users.get_user(email, db=db)
        if user is not None and user.active:
            if user.session_version == st.session_state.get(SESSION_VERSION_KEY):
                return user
            _refuse(email, "account changed", OIDC_ENDED_MESSAGE)
    settings = load_settings()
    existing = users.get_user(email, db=db) if email else None
    if not email:
        _refuse(
            "",
            "no email",
            "Your sign-in provider did not send an email address, so we cannot "
            "tell who you are. Ask an admin to check the provider's settings.",
        )
    if st.user.get("email_verified") is False:  # the provider itself does not vouch for the address
        _refuse(
            email,
            "email not verified",
            f"Access refused: your provider has not verified {email}. "
            "Verify the address with your provider, then sign in again.",
        )
    if existing is not None and not existing.active:
        _refuse(email, "disabled", f"Access refused: the account {email} is disabled. Ask an admin to enable it.")
    allow = allow_list(settings, secrets())
    if existing is None and not allow.allows(email):
        _refuse(
            email,
            "not on the allow-list",
            f"Access refused: {email} is not on this workspace's allow-list. "
            "Ask an admin to add your email or your domain.",
        )
    user = users.oidc_sign_in(
        email, str(st.user.get("name") or ""), oidc.stored_as, default_role(settings, secrets()), db=db
    )
    login_id = _oidc_login_id()
    if users.first_sight_of_login(user.username, login_id, user.session_version, db=db):
        audit.record(user, "signin", "", {"provider": oidc.stored_as}, db=db)
    elif users.login_version(user.username, login_id, db=db) != user.session_version:
        # a login (Streamlit's cookie, shared by every tab) from before the account changed
        _refuse(email, "account changed", OIDC_ENDED_MESSAGE)
    st.session_state[SIGNED_IN_KEY] = user.username
    st.session_state[SESSION_VERSION_KEY] = user.session_version
    return user


def _oidc_login_id() -> str:
    """What tells one OIDC login from the next: its ID token's issuer, subject, time and nonce.

    Every tab reading the same Streamlit auth cookie gives the same value. Without those claims,
    each session counts as a login of its own (and a new tab is not held to an older version).
    """
    claims = [str(st.user.get(claim) or "") for claim in ("iss", "sub", "iat", "nonce")]
    if not any(claims[2:]):
        st.session_state.setdefault("crm_login_id", uuid.uuid4().hex)
        return st.session_state["crm_login_id"]
    return "\n".join(claims)


@st.cache_resource(show_spinner=False)
def _first_start(data_dir: str, db_name: str) -> None:
    """Once per process and database: create the first admin and print its one-time password."""
    notice = users.first_start_notice(db=get_database())  # `python -m crm serve` has made it already, unless run alone
    if notice:
        print(f"\n{notice}\n", flush=True)


def _secret() -> str:
    return cookie_secret(load_settings(), secrets())


def _cookie_writer():
    """A cookie component of its own: the gate's authenticator may be on this run's page already."""
    import extra_streamlit_components as stx

    return stx.CookieManager(key="crm_cookie_writer")


def _authenticator():
    """streamlit-authenticator, for its cookie component and sign-out only: we check passwords
    and read our cookie ourselves (its own cookie names no session version)."""
    import streamlit_authenticator as stauth

    return stauth.Authenticate({"usernames": {}}, AUTH_COOKIE, _secret(), AUTH_COOKIE_DAYS, auto_hash=False)


def _local_gate() -> users.User:
    db = get_database()
    settings = load_settings()
    _first_start(str(settings.data_dir), settings.db_name)
    authenticator = _authenticator()
    if st.session_state.pop(_SIGN_OUT, False) and st.session_state.get("authentication_status"):
        audit.record(st.session_state.get("username") or "unknown", "signout", "", {"provider": users.LOCAL}, db=db)
        authenticator.logout(location="unrendered")  # deletes the cookie, marks the session out
        _clear_session()
        st.session_state[_NO_COOKIE] = True
    if st.session_state.get("authentication_status"):
        _end_if_account_changed(authenticator)
    if not st.session_state.get("authentication_status"):
        _cookie_sign_in(authenticator)
    if not st.session_state.get("authentication_status"):
        _password_form()  # returns only once a right password was typed
    username = st.session_state.get("username") or ""
    user = users.get_user(username, db=db)
    if user is None or not user.active:
        authenticator.logout(location="unrendered")
        _refuse(username, "disabled", f"Access refused: the account {username} is disabled.")
    if user.session_version != st.session_state.get(SESSION_VERSION_KEY):
        st.rerun()  # changed in the last moment: the next run ends this session
    if st.session_state.get(SIGNED_IN_KEY) != user.username:
        if st.session_state.pop(_PASSWORD_TYPED, None) == user.username:
            users.stamp_login(user.username, db=db)
            audit.record(user, "signin", "", {"provider": users.LOCAL, "client": client()}, db=db)
            st.session_state[_SET_COOKIE] = True
        # else the cookie of an earlier sign-in (a new tab): that sign-in is in the audit log already
        st.session_state[SIGNED_IN_KEY] = user.username
        st.session_state.pop(_ENDED, None)
    if user.must_change_password:
        _change_password_form(user)
    return user


def _end_if_account_changed(authenticator) -> None:
    """Sign this session out if its account's session version moved on since it began."""
    db = get_database()
    user = users.get_user(st.session_state.get("username") or "", db=db)
    if user is None or not user.active or user.session_version == st.session_state.get(SESSION_VERSION_KEY):
        return  # the same account as when it began (or gone or disabled: refused by the gate)
    audit.record(user, "signout", "", {"provider": users.LOCAL, "reason": "account changed"}, db=db)
    authenticator.logout(location="unrendered")  # deletes the cookie too
    _clear_session()
    st.session_state[_NO_COOKIE] = True
    st.session_state[_ENDED] = True


def _cookie_sign_in(authenticator) -> None:
    """Sign the session in from the browser's cookie, if it is ours, valid and of the account's
    current session version. A cookie from before an account change is deleted and said so."""
    if st.session_state.get(_NO_COOKIE):
        return  # Streamlit keeps the cookies a session started with, even once deleted
    claims = session_cookie.read(st.context.cookies.get(AUTH_COOKIE), _secret())
    if claims is None:
        return
    user = users.get_user(claims.username, db=get_database())
    if user is None or user.provider != users.LOCAL or not user.active:
        return
    if user.session_version != claims.session_version:
        authenticator.cookie_controller.delete_cookie()
        st.session_state[_NO_COOKIE] = True
        st.session_state[_ENDED] = True
        return
    st.session_state.update(
        {
            "authentication_status": True,
            "username": user.username,
            "name": user.name,
            SESSION_VERSION_KEY: claims.session_version,
        }
    )


def _password_form() -> None:
    """The sign-in form; stops the run unless the password just typed is right."""
    db = get_database()
    form = st.empty()
    with form.container():
        st.title("Mini CRM")
        if st.session_state.get(_ENDED):
            st.warning(ENDED_MESSAGE, icon=":material/logout:")
        with st.form("crm_login"):
            st.subheader("Sign in")
            typed = st.text_input("Username", autocomplete="username")
            password = st.text_input("Password", type="password", autocomplete="current-password")
            submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        st.stop()
    username, here = typed.strip().lower(), client()
    wait = throttle.wait_seconds(username, here, db=db)
    if wait:  # refused before the password is even looked at: a wait reveals nothing about it
        show_error(f"Too many attempts; try again in {wait} s.")
        st.stop()
    if not username or not password.strip():
        show_error("Enter your username and password.")
        st.stop()
    user = users.check_sign_in(username, password, db=db)
    if user is not None and user.one_time_password_expired:
        audit.record(
            user,
            "signin.refused",
            user.username,
            {"reason": "one-time password expired", "client": here},
            db=db,
        )
        show_error(one_time_passwords.expired_message(user.username, user.password_expires_at))
        st.stop()
    if user is not None:
        throttle.note_success(username, here, db=db)
        st.session_state.update(
            {
                "authentication_status": True,
                "username": user.username,
                "name": user.name,
                SESSION_VERSION_KEY: user.session_version,
                _PASSWORD_TYPED: user.username,
            }
        )
        form.empty()
        return
    st.session_state["authentication_status"] = None  # a failure is reported by the run that saw it
    wait = throttle.note_failure(username, here, db=db)
    known = users.get_user(username, db=db) is not None
    audit.record(
        username if known else "unknown",
        "signin.failed",
        username if known else "",
        {"reason": "wrong username or password", "client": here, "wait_seconds": wait},
        db=db,
    )
    show_error("Wrong username or password." + (f" Too many attempts; try again in {wait} s." if wait else ""))
    st.stop()


def _change_password_form(user: users.User) -> None:
    st.title("Choose a new password")
    st.info("You signed in with a one-time password. Type it once more, then choose your own password to continue.")
    st.caption(users.PASSWORD_RULES)
    with st.form("crm_change_password"):
        current = st.text_input("One-time password", type="password", autocomplete="current-password")
        new = st.text_input("New password", type="password", autocomplete="new-password")
        repeat = st.text_input("Repeat new password", type="password", autocomplete="new-password")
        if st.form_submit_button("Save password", type="primary") and _change_password(user, current, new, repeat):
            st.rerun()
    st.stop()
