"""The Settings page's panels for admins: users and roles, API keys, the status of each part and
the audit log."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time

import streamlit as st

from crm.auth import ROLES, api_keys, audit, throttle, users
from crm.auth.one_time_passwords import describe_expiry
from crm.auth.users import User
from crm.config import load_settings
from crm.ops.status import all_parts
from crm.store.documents import Database
from crm.ui.errors import errors_shown
from crm.ui.session import provider, secrets
from crm.ui.tables import utc_table

ALL = "(all)"


def show_once(label: str, secret: str, note: str = "") -> None:
    st.success(label, icon=":material/key:")
    st.code(secret, language=None)
    st.caption(f"Copy it now: it is stored only as a hash and will not be shown again. {note}".strip())


def one_time_note(db: Database, username: str) -> str:
    account = users.get_user(username, db=db)
    expires = account.password_expires_at if account else None
    return f"It works until {describe_expiry(expires)}; after that, reset the password again." if expires else ""


def users_panel(db: Database, user: User) -> None:
    """Add a user (local or single sign-on), change their role, deactivate, reset, unlock; the list."""
    oidc = provider()
    add, change = st.columns(2, border=True)
    with add:
        st.subheader("Add a user")
        with st.form("add-user", clear_on_submit=True):
            if oidc is None:
                username = st.text_input("Username")
                name = st.text_input("Name")
                email = st.text_input("Email (optional)")
            else:
                email = st.text_input("Email of the Google account")
            role = st.selectbox("Role", list(ROLES), index=list(ROLES).index("viewer"), key="add-user-role")
            if st.form_submit_button("Add user", type="primary"):
                with errors_shown():
                    if oidc is None:
                        added, password = users.add_local_user(user, username, role, name=name, email=email, db=db)
                        show_once(
                            f"Added {added.username}. Their one-time password:",
                            password,
                            one_time_note(db, added.username),
                        )
                    else:
                        added = users.add_oidc_user(user, email, role, oidc.stored_as, db=db)
                        st.success(f"{added.username} can now sign in with {oidc.stored_as} as {role}.")
    everyone = users.list_users(db=db)
    names = [u.username for u in everyone]
    with change:
        st.subheader("Change a user")
        with st.form("change-user"):
            who = st.selectbox("User", names, key="change-user-name")
            role = st.selectbox("Role", list(ROLES), key="change-user-role")
            set_role, disable, enable, reset, unlock = st.columns(5)
            with errors_shown():
                if set_role.form_submit_button("Set role"):
                    users.set_role(user, who, role, db=db)
                    st.success(f"{who} is now {role}; their open sessions have ended.")
                if disable.form_submit_button("Disable"):
                    users.set_active(user, who, False, db=db)
                    st.success(f"{who} is disabled: their open sessions have ended and they cannot sign in.")
                if enable.form_submit_button("Enable"):
                    users.set_active(user, who, True, db=db)
                    st.success(f"{who} is enabled.")
                if reset.form_submit_button("Reset password"):
                    password = users.reset_password(user, who, db=db)
                    show_once(
                        f"New one-time password for {who} (their open sessions have ended):",
                        password,
                        one_time_note(db, who),
                    )
                if unlock.form_submit_button(
                    "Unlock", help="Let them try a password again now, after wrong passwords made them wait"
                ):
                    users.unlock(user, who, db=db)
                    st.success(f"{who} may sign in again now.")
    waits = throttle.waiting_accounts(db=db)
    rows = [
        {
            **u.model_dump(
                include={"username", "name", "email", "role", "provider", "active", "last_login", "created_at"}
            ),
            "sign-in wait (s)": waits.get(u.username),
        }
        for u in users.list_users(db=db)
    ]
    st.dataframe(utc_table(rows), hide_index=True, width="stretch")


def keys_panel(db: Database, user: User) -> None:
    """Create an API key (shown once), revoke one; the list."""
    create, revoke = st.columns(2, border=True)
    with create:
        st.subheader("Create an API key")
        with st.form("create-key", clear_on_submit=True):
            name = st.text_input("Name (who or what uses it)")
            if st.form_submit_button("Create key", type="primary"):
                with errors_shown():
                    key, clear = api_keys.create(user, name, db=db)
                    show_once(f"Key {key.name} created:", clear)
    active = [k for k in api_keys.list_keys(db) if not k.revoked]
    with revoke:
        st.subheader("Revoke an API key")
        with st.form("revoke-key"):
            labels: dict[str, str] = {k.prefix: f"{k.name} · {k.prefix}…" for k in active}
            # no key: the widget starts afresh when the list of keys changes
            prefix = st.selectbox("Key", list(labels), format_func=lambda chosen: labels[chosen])
            if st.form_submit_button("Revoke", disabled=not active) and prefix is not None:
                with errors_shown():
                    revoked = api_keys.revoke(user, prefix, db=db)
                    st.success(f"Revoked {revoked.name}; requests with it now get 401.")
    rows = [
        {
            "name": k.name,
            "prefix": k.prefix,
            "created": k.created_at,
            "last used": k.last_used_at,
            "revoked": k.revoked_at,
        }
        for k in api_keys.list_keys(db)
    ]
    if rows:
        st.dataframe(utc_table(rows), hide_index=True, width="stretch")
    else:
        st.caption("No API keys yet.")


def status_panel(db: Database) -> None:
    """Each part of the system: working, failing or not configured, in one line."""
    icons = {True: ":material/check_circle:", False: ":material/error:", None: ":material/remove_circle:"}
    for part in all_parts(db, load_settings(), secrets()):
        st.markdown(f"{icons[part.ok]} **{part.part}**: {part.summary}")


def audit_panel(db: Database) -> None:
    """The audit log, filtered by action, user, target and dates, newest first."""
    action_col, user_col, target_col = st.columns(3)
    action = action_col.selectbox("Action", [ALL, *audit.actions_seen(db=db)], key="audit-action")
    username = user_col.text_input("User", key="audit-user")
    target = target_col.text_input("Target contains", key="audit-target")
    since_col, until_col, limit_col = st.columns(3)
    since = since_col.date_input("From", value=None, key="audit-since")
    until = until_col.date_input("To", value=None, key="audit-until")
    limit = limit_col.number_input("At most", 10, 10_000, 500, step=100, key="audit-limit")
    with errors_shown():
        entries = audit.query(
            {
                "action": None if action == ALL else action,
                "username": username or None,
                "target_contains": target or None,
                "limit": limit,
                "since": datetime.combine(since, time.min, UTC) if since else None,
                "until": datetime.combine(until, time.max, UTC) if until else None,
            },
            db=db,
        )
        st.caption(f"{len(entries)} entries, newest first")
        rows = [{**e.model_dump(), "details": json.dumps(e.details, default=str)} for e in entries]
        st.dataframe(
            utc_table(rows, columns=["at", "username", "role", "action", "target", "details"]),
            hide_index=True,
            width="stretch",
        )
