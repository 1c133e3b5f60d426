"""Roles, permissions, users, allow-list, cookie secret and the audit log, on a real database."""

from __future__ import annotations

import stat
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from crm.auth import CLI, PERMISSIONS, ROLES, SystemPrincipal, allowed, audit, require, roles_allowed, users
from crm.auth.permissions import API_KEY_ROLE
from crm.auth.signin_settings import allow_list, cookie_secret, oidc_provider
from crm.config import load_settings
from crm.errors import Conflict, Forbidden, InvalidInput, NotFound

VIEWER = SystemPrincipal("vera", "viewer")
MARKETER = SystemPrincipal("mark", "marketer")
ADMIN = SystemPrincipal("ada", "admin")


@pytest.mark.parametrize("action", ["segment.save", "segment.delete", "campaign.send", "data.import"])
def test_marketers_and_admins_may_act_on_segments_and_campaigns_but_viewers_may_not(action):
    require(MARKETER, action)
    require(ADMIN, action)
    with pytest.raises(Forbidden, match="vera \\(viewer\\) may not"):
        require(VIEWER, action)


def test_viewer_cannot_send_a_campaign():
    with pytest.raises(Forbidden, match="may not send a campaign"):
        require(VIEWER, "campaign.send")


@pytest.mark.parametrize("action", ["user.admin", "apikey.create", "apikey.revoke", "audit.read", "settings.view"])
def test_only_admins_manage_users_keys_settings_and_audit(action):
    require(ADMIN, action)
    for user in (VIEWER, MARKETER):
        with pytest.raises(Forbidden):
            require(user, action)


def test_everyone_signed_in_may_view_data_and_nobody_signed_out_may():
    for role in ROLES:
        require(SystemPrincipal("x", role), "data.view")
    with pytest.raises(Forbidden, match="sign in"):
        require(None, "data.view")


def test_a_disabled_user_may_do_nothing():
    assert not allowed(replace(ADMIN, active=False), "data.view")


def test_an_unknown_action_is_a_programming_error_not_a_refusal():
    with pytest.raises(ValueError, match="unknown action"):
        require(ADMIN, "campaign.launch_missiles")


def test_every_action_names_only_known_roles():
    for action, (_, roles) in PERMISSIONS.items():
        assert roles and roles <= {*ROLES, API_KEY_ROLE}, action
    assert roles_allowed("campaign.send") == ["admin", "marketer"]
    assert roles_allowed("data.import") == ["admin", "marketer"]  # people only: a key is no role to give


def test_first_start_creates_one_admin_with_a_one_time_password(db):
    created = users.ensure_first_admin(db=db)
    assert created is not None
    username, password = created
    assert users.ensure_first_admin(db=db) is None  # the second start creates nothing
    admin = users.get_user(username, db=db)
    assert admin.role == "admin" and admin.must_change_password
    stored = db.users.find_one({"username": username})
    assert password not in str(stored) and stored["password_hash"].startswith("$2")
    assert users.check_password(password, stored["password_hash"])
    assert audit.query({"action": "user.add"}, db=db)[0].details["first_start"] is True


def test_admin_adds_a_user_who_must_replace_the_one_time_password(db):
    user, password = users.add_local_user(ADMIN, "Mia", "marketer", name="Mia M", email="MIA@Example.com", db=db)
    assert (user.username, user.email, user.role) == ("mia", "mia@example.com", "marketer")
    assert users.check_sign_in("mia", password, db=db).role == "marketer"
    users.change_own_password(user, "a much better one", "a much better one", current=password, db=db)
    assert not users.get_user("mia", db=db).must_change_password
    assert users.check_sign_in("mia", "a much better one", db=db) is not None
    assert users.check_sign_in("mia", password, db=db) is None


def test_a_marketer_cannot_add_users_or_reset_passwords(db):
    users.add_local_user(ADMIN, "mia", "viewer", db=db)
    with pytest.raises(Forbidden):
        users.add_local_user(MARKETER, "eve", "admin", db=db)
    with pytest.raises(Forbidden):
        users.reset_password(MARKETER, "mia", db=db)
    with pytest.raises(Forbidden):
        users.set_role(MARKETER, "mia", "admin", db=db)
    assert users.get_user("eve", db=db) is None


@pytest.mark.parametrize(
    "username, role, where", [("", "viewer", "username"), ("a b", "viewer", "username"), ("ok-name", "boss", "role")]
)
def test_bad_user_input_names_the_field(db, username, role, where):
    with pytest.raises(InvalidInput) as err:
        users.add_local_user(ADMIN, username, role, db=db)
    assert err.value.location == where


def test_a_taken_username_is_a_conflict(db):
    users.add_local_user(ADMIN, "mia", "viewer", db=db)
    with pytest.raises(Conflict, match="already exists"):
        users.add_local_user(ADMIN, "MIA", "viewer", db=db)


@pytest.mark.parametrize(
    "new, repeat, where, reason",
    [
        ("short", "short", "new password", "at least 10 characters"),
        ("9 letters", "9 letters", "new password", "at least 10 characters"),
        ("x" * 73, "x" * 73, "new password", "at most 72 bytes"),
        ("password123", "password123", "new password", "very common password"),
        ("qwertyuiop12", "qwertyuiop12", "new password", "too easy to guess"),
        ("aaaaaaaaaaaaaa", "aaaaaaaaaaaaaa", "new password", 'Repeats like "aaa"'),
        ("mia marketer 1", "mia marketer 1", "new password", "too easy to guess"),  # her own name
        ("long unusual phrase 1", "long unusual phrase 2", "repeat password", "differ"),
    ],
)
def test_weak_or_mistyped_new_passwords_are_refused_with_the_reason(db, new, repeat, where, reason):
    user, one_time = users.add_local_user(ADMIN, "mia", "viewer", name="Mia Marketer", db=db)
    with pytest.raises(InvalidInput) as err:
        users.change_own_password(user, new, repeat, current=one_time, db=db)
    assert err.value.location == where and reason in err.value.message
    assert users.get_user("mia", db=db).must_change_password


def test_the_one_time_password_is_not_accepted_as_the_new_password(db):
    user, one_time = users.add_local_user(ADMIN, "mia", "viewer", db=db)
    with pytest.raises(InvalidInput, match="different from your one-time password"):
        users.change_own_password(user, one_time, one_time, current=one_time, db=db)
    with pytest.raises(InvalidInput, match="different from your one-time password"):
        users.change_own_password(user, f"  {one_time} ", one_time, current=one_time, db=db)  # stripped at sign-in
    assert users.get_user("mia", db=db).must_change_password


def test_the_new_password_must_differ_from_the_current_one(db):
    user, one_time = users.add_local_user(ADMIN, "mia", "viewer", db=db)
    users.change_own_password(user, "chosen by mia", "chosen by mia", current=one_time, db=db)
    with pytest.raises(InvalidInput, match="different from your current password"):
        users.change_own_password(user, "chosen by mia", "chosen by mia", current="chosen by mia", db=db)
    users.change_own_password(user, "then another phrase", "then another phrase", current="chosen by mia", db=db)


def test_reset_password_replaces_the_hash_and_forces_a_change(db):
    user, first = users.add_local_user(ADMIN, "mia", "viewer", db=db)
    users.change_own_password(user, "chosen by mia", "chosen by mia", current=first, db=db)
    second = users.reset_password(ADMIN, "mia", db=db)
    stored = db.users.find_one({"username": "mia"})
    assert users.check_password(second, stored["password_hash"]) and stored["must_change_password"]
    with pytest.raises(NotFound):
        users.reset_password(ADMIN, "nobody", db=db)


def test_the_last_admin_can_be_neither_demoted_nor_disabled(db):
    username, _ = users.ensure_first_admin(db=db)
    with pytest.raises(Conflict, match="last admin"):
        users.set_role(ADMIN, username, "viewer", db=db)
    with pytest.raises(Conflict, match="last admin"):
        users.set_active(ADMIN, username, False, db=db)
    users.add_local_user(ADMIN, "second", "admin", db=db)
    assert users.set_role(ADMIN, username, "viewer", db=db).role == "viewer"


def test_a_disabled_local_user_cannot_sign_in_even_with_the_right_password(db):
    _, one_time = users.add_local_user(ADMIN, "mia", "viewer", db=db)
    assert users.check_sign_in("MIA ", f" {one_time}", db=db) is not None  # as typed: spaces stripped
    users.set_active(ADMIN, "mia", False, db=db)
    assert users.check_sign_in("mia", one_time, db=db) is None


def test_first_google_user_becomes_admin_and_later_ones_get_the_default_role(db):
    first = users.oidc_sign_in("Boss@Corp.com", "Boss", "google", "viewer", db=db)
    second = users.oidc_sign_in("ann@corp.com", "Ann", "google", "marketer", db=db)
    again = users.oidc_sign_in("boss@corp.com", "Boss", "google", "viewer", db=db)
    assert (first.username, first.role) == ("boss@corp.com", "admin")
    assert second.role == "marketer" and again.role == "admin" and again.last_login >= first.last_login


def test_an_admin_can_let_in_a_google_account_with_a_role_before_it_signs_in(db):
    users.add_oidc_user(ADMIN, "New@Corp.com", "marketer", "google", db=db)
    assert users.oidc_sign_in("new@corp.com", "New", "google", "viewer", db=db).role == "marketer"
    with pytest.raises(InvalidInput, match="no password"):
        users.reset_password(ADMIN, "new@corp.com", db=db)


def test_allow_list_takes_emails_and_domains_from_env_and_secrets(monkeypatch):
    monkeypatch.setenv("CRM_ALLOWED_EMAILS", "Ann@Other.org, bob@x.com")
    monkeypatch.setenv("CRM_ALLOWED_DOMAINS", "@corp.com")
    allow = allow_list(load_settings(), {"crm": {"allowed_domains": ["team.io"]}})
    assert allow.allows("ann@other.org") and allow.allows("ANY@corp.com") and allow.allows("z@team.io")
    assert not allow.allows("eve@other.org") and not allow.allows("eve@corp.com.evil.io")
    assert not allow.allows("not-an-email")


def test_an_empty_allow_list_lets_nobody_in(monkeypatch):
    monkeypatch.delenv("CRM_ALLOWED_EMAILS", raising=False)
    monkeypatch.delenv("CRM_ALLOWED_DOMAINS", raising=False)
    allow = allow_list(load_settings(), {})
    assert allow.empty and not allow.allows("anyone@gmail.com")


def test_google_is_picked_from_the_auth_section_and_absent_means_local_accounts():
    google = {
        "auth": {
            "redirect_uri": "x",
            "cookie_secret": "s",
            "mock": {"server_metadata_url": "http://a/.well-known/openid-configuration"},
            "google": {"server_metadata_url": "https://accounts.google.com/.well-known/openid-configuration"},
        }
    }
    provider = oidc_provider(google)
    assert provider.name == "google" and provider.label == "google (accounts.google.com)"
    assert oidc_provider({}) is None and oidc_provider({"auth": {"cookie_secret": "s"}}) is None


def test_cookie_secret_comes_from_secrets_or_is_generated_once_into_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path))
    settings = load_settings()
    assert cookie_secret(settings, {"auth": {"cookie_secret": "from-secrets"}}) == "from-secrets"
    first = cookie_secret(settings, {})
    assert len(first) >= 32 and cookie_secret(settings, {}) == first
    assert stat.S_IMODE((tmp_path / "cookie_secret").stat().st_mode) == 0o600


def test_audit_log_records_who_what_when_and_filters(db):
    audit.record(ADMIN, "apikey.create", "ingest", {"prefix": "crm_ab"}, db=db)
    audit.record("mia", "signin", "", {"method": "password"}, db=db)
    audit.record(None, "signin.refused", "eve@evil.io", {"reason": "not on the allow-list"}, db=db)
    newest = audit.query({}, db=db)
    assert [e.action for e in newest] == ["signin.refused", "signin", "apikey.create"]
    assert newest[2].username == "ada" and newest[2].role == "admin" and newest[2].details == {"prefix": "crm_ab"}
    assert [e.action for e in audit.query({"action": "signin."}, db=db)] == ["signin.refused"]
    assert [e.action for e in audit.query({"action": "signin"}, db=db)] == ["signin"]
    assert [e.target for e in audit.query({"username": "ADA"}, db=db)] == ["ingest"]
    assert len(audit.query({"target_contains": "EVIL.IO"}, db=db)) == 1
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert audit.query({"since": later}, db=db) == []
    assert len(audit.query({"until": later, "limit": 2}, db=db)) == 2
    assert audit.actions_seen(db=db) == ["apikey.create", "signin", "signin.refused"]


def test_regex_characters_in_audit_filters_match_literally(db):
    audit.record("a.b", "signin", "x", db=db)
    audit.record("axb", "signin", "x", db=db)
    assert [e.username for e in audit.query({"username": "a.b"}, db=db)] == ["a.b"]


def test_cli_acts_as_admin_and_may_do_everything():
    # Whoever runs the command line owns the data dir, so every action of the table is open to it.
    from crm.auth.permissions import PERMISSIONS, allowed

    assert CLI.role == "admin"
    assert [action for action in PERMISSIONS if not allowed(CLI, action)] == []
    require(CLI, "apikey.create")  # does not raise


def test_only_admins_create_and_revoke_api_keys_and_both_are_audited(db):
    from crm.auth import api_keys

    with pytest.raises(Forbidden):
        api_keys.create(MARKETER, "ingest", db=db)
    assert db.api_keys.count_documents({}) == 0
    key, clear = api_keys.create(ADMIN, "ingest", db=db)
    assert clear.startswith(key.prefix)
    with pytest.raises(Forbidden):
        api_keys.revoke(VIEWER, "ingest", db=db)
    assert api_keys.revoke(ADMIN, key.prefix, db=db).revoked
    assert [(e.action, e.username, e.target) for e in audit.query({"action": "apikey."}, db=db)] == [
        ("apikey.revoke", "ada", "ingest"),
        ("apikey.create", "ada", "ingest"),
    ]
