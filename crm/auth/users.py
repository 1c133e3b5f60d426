"""The users collection: local accounts (bcrypt-hashed passwords) and Google (OIDC) users.

Users live in MongoDB rather than a YAML file so that every process (UI, API, CLI) sees the same
accounts and roles at once, admins can change them from the Settings page while others are signed
in, and local and Google users share one list.

Each user has a session version. Every sign-in (a cookie, a browser session, an OIDC login) is
bound to the version it began under, and a password reset or change, a disable or enable and a
role change move it on, so no sign-in from before that change still works (crm.ui.session).
One-time passwords expire (crm.auth.one_time_passwords).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from datetime import datetime

import bcrypt
from pydantic import BaseModel
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from crm.auth import audit, one_time_passwords, throttle
from crm.auth.permissions import ROLES, Principal, require
from crm.errors import Conflict, InvalidInput, NotFound
from crm.store.clock import utc_now
from crm.store.documents import Database, Document

LOCAL = "local"
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@+-]{1,63}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 10
MAX_PASSWORD_BYTES = 72  # bcrypt ignores (bcrypt 5: refuses) anything longer
MIN_STRENGTH = 3  # zxcvbn's score, 0-4: 3 is "safely unguessable" for an online attack
PASSWORD_RULES = (
    f"At least {MIN_PASSWORD} characters, hard to guess (no common passwords, names or "
    "keyboard runs), and not the one you have now. A few unusual words make a good one."
)


class WrongPassword(InvalidInput):
    """The current (or one-time) password given to confirm a change is not the account's."""


class User(BaseModel):
    username: str
    email: str = ""
    name: str = ""
    role: str
    provider: str = LOCAL
    active: bool = True
    must_change_password: bool = False
    password_expires_at: datetime | None = None  # of the one-time password, while there is one
    session_version: int = 0  # moved on by every change that must end existing sign-ins
    created_at: datetime
    last_login: datetime | None = None

    @property
    def one_time_password_expired(self) -> bool:
        return one_time_passwords.has_expired(self.must_change_password, self.password_expires_at)


def _users(db: Database) -> Collection[Document]:
    return db["users"]


def _hash(password: str) -> str:
    # bcrypt directly, in the format streamlit-authenticator's Hasher writes and checks (it calls
    # the same two functions), without loading Streamlit into the CLI and API.
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()


def check_password(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode(), password_hash.encode())
    except ValueError:  # bcrypt 5 refuses more than 72 bytes: no stored password is that long
        return False


def check_sign_in(username: str, password: str, *, db: Database) -> User | None:
    """The active local account whose password this is, or None.

    Hash and session version come from one read, so a session let in by a password is bound to
    the version that password belongs to.
    """
    doc = _users(db).find_one(
        {"username": (username or "").strip().lower(), "provider": LOCAL, "active": True}, {"_id": 0}
    )
    if not doc or not doc.get("password_hash") or not check_password(password.strip(), doc.pop("password_hash")):
        return None
    return User.model_validate(doc)


def new_password() -> str:
    """A random one-time password (shown once, changed at first sign-in)."""
    return secrets.token_urlsafe(12)


def validate_password(password: str, location: str = "password", user_inputs: Sequence[str] = ()) -> str:
    """The password to store, or InvalidInput saying what is wrong with it.

    Strength is zxcvbn's estimate of how many guesses it takes, given common passwords, words,
    names, dates, keyboard runs and `user_inputs` (the account's own name and email).
    """
    from zxcvbn import zxcvbn

    # streamlit-authenticator strips what is typed at sign-in; check and store what it will compare.
    password = password.strip()
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(location, f"use at least {MIN_PASSWORD} characters")
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise InvalidInput(location, f"use at most {MAX_PASSWORD_BYTES} bytes")
    words = {part for text in [*user_inputs, "Mini CRM"] for part in [text, *re.split(r"[^\w]+", text)] if part}
    verdict = zxcvbn(password, user_inputs=sorted(words))
    if verdict["score"] < MIN_STRENGTH:
        feedback = verdict["feedback"]
        reason = " ".join(part for part in [feedback.get("warning"), *feedback.get("suggestions", [])] if part)
        raise InvalidInput(
            location, "too easy to guess. " + (reason or "Add another word or two; uncommon words are better.")
        )
    return password


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput("role", f"{role!r} is not one of {', '.join(ROLES)}")
    return role


def normalise_email(email: str, location: str = "email") -> str:
    email = (email or "").strip().lower()
    if not _EMAIL.match(email):
        raise InvalidInput(location, f"{email!r} is not an email address")
    return email


def get_user(username: str, *, db: Database) -> User | None:
    doc = _users(db).find_one({"username": (username or "").strip().lower()}, {"_id": 0})
    return User.model_validate(doc) if doc else None


def list_users(*, db: Database) -> list[User]:
    return [User.model_validate(d) for d in _users(db).find({}, {"_id": 0}).sort("username", 1)]


def _insert(doc: dict, db: Database) -> User:
    try:
        _users(db).insert_one(dict(doc))
    except DuplicateKeyError as exc:
        raise Conflict(f"a user named {doc['username']!r} already exists") from exc
    doc.pop("password_hash", None)
    return User.model_validate(doc)


def _new_local_account(username: str, email: str, name: str, role: str, password: str) -> dict:
    """A local account whose one-time password must be replaced at its first sign-in."""
    return {
        "username": username,
        "email": email,
        "name": name,
        "role": role,
        "provider": LOCAL,
        "active": True,
        "must_change_password": True,
        "password_expires_at": one_time_passwords.expiry(),
        "session_version": 0,
        "created_at": utc_now(),
        "last_login": None,
        "password_hash": _hash(password),
    }


def add_local_user(
    actor: Principal, username: str, role: str, name: str = "", email: str = "", *, db: Database
) -> tuple[User, str]:
    """Create a local account; returns the user and a one-time password to hand over."""
    require(actor, "user.admin")
    username = (username or "").strip().lower()
    if not _USERNAME.match(username):
        raise InvalidInput("username", "use 2-64 letters, digits or . _ @ + - (starting with a letter or digit)")
    password = new_password()
    email = normalise_email(email) if email.strip() else ""
    user = _insert(_new_local_account(username, email, name.strip() or username, _check_role(role), password), db)
    audit.record(actor, "user.add", username, {"role": role, "provider": LOCAL}, db=db)
    return user, password


def add_oidc_user(actor: Principal, email: str, role: str, provider: str, name: str = "", *, db: Database) -> User:
    """Let one Google (OIDC) account in with a role, before its first sign-in."""
    require(actor, "user.admin")
    email = normalise_email(email)
    user = _insert(
        {
            "username": email,
            "email": email,
            "name": name.strip(),
            "role": _check_role(role),
            "provider": provider,
            "active": True,
            "must_change_password": False,
            "created_at": utc_now(),
            "last_login": None,
        },
        db,
    )
    audit.record(actor, "user.add", email, {"role": role, "provider": provider}, db=db)
    return user


def _other_active_admins(username: str, db: Database) -> int:
    return _users(db).count_documents({"role": "admin", "active": True, "username": {"$ne": username}})


def _existing(username: str, db: Database) -> User:
    user = get_user(username, db=db)
    if user is None:
        raise NotFound(f"no user named {username!r}")
    return user


def set_role(actor: Principal, username: str, role: str, *, db: Database) -> User:
    require(actor, "user.admin")
    user = _existing(username, db)
    _check_role(role)
    if user.role == "admin" and role != "admin" and _other_active_admins(user.username, db) == 0:
        raise Conflict(f"{user.username} is the last admin; make someone else admin first")
    if role == user.role:
        return user
    _users(db).update_one({"username": user.username}, {"$set": {"role": role}, "$inc": {"session_version": 1}})
    audit.record(actor, "user.role", user.username, {"from": user.role, "to": role}, db=db)
    return user.model_copy(update={"role": role})


def set_active(actor: Principal, username: str, active: bool, *, db: Database) -> User:
    """Disable (or enable again) an account; a disabled user cannot sign in."""
    require(actor, "user.admin")
    user = _existing(username, db)
    if not active and user.role == "admin" and _other_active_admins(user.username, db) == 0:
        raise Conflict(f"{user.username} is the last admin; it cannot be disabled")
    if bool(active) == user.active:
        return user
    _users(db).update_one(
        {"username": user.username}, {"$set": {"active": bool(active)}, "$inc": {"session_version": 1}}
    )
    audit.record(actor, "user.enable" if active else "user.disable", user.username, db=db)
    return user.model_copy(update={"active": bool(active)})


def reset_password(actor: Principal, username: str, *, db: Database) -> str:
    """Give a local account a new one-time password (returned once, never stored in clear)."""
    require(actor, "user.admin")
    user = _existing(username, db)
    if user.provider != LOCAL:
        raise InvalidInput("username", f"{user.username} signs in with {user.provider}; it has no password here")
    password = new_password()
    _users(db).update_one(
        {"username": user.username},
        {
            "$set": {
                "password_hash": _hash(password),
                "must_change_password": True,
                "password_expires_at": one_time_passwords.expiry(),
            },
            "$inc": {"session_version": 1},
        },
    )  # ends every sign-in from before the reset
    throttle.clear_account(user.username, db=db)
    audit.record(actor, "user.reset_password", user.username, db=db)
    return password


def unlock(actor: Principal, username: str, *, db: Database) -> int:
    """Lift the sign-in back-off on an account now; returns how many clients were waiting."""
    require(actor, "user.admin")
    user = _existing(username, db)
    cleared = throttle.clear_account(user.username, db=db)
    audit.record(actor, "user.unlock", user.username, {"clients": cleared}, db=db)
    return cleared


def change_own_password(user: Principal, new: str, repeat: str, *, current: str, db: Database) -> User:
    """The signed-in user replaces their password; returns the account as it is now.

    Always with the password they have now (after a reset: the one-time password, while it has
    not expired), so a session alone, such as one opened by someone else's cookie, cannot take
    the account. The new one must be strong (`validate_password`) and differ from the current
    one, so a one-time password can never become the lasting one. The change ends every other
    sign-in of the account (its session version moves on); the caller carries its own on.
    """
    account = _existing(user.username, db)
    if account.provider != LOCAL:
        raise InvalidInput("password", f"{account.username} signs in with {account.provider}")
    which = "one-time password" if account.must_change_password else "current password"
    stored = _users(db).find_one({"username": account.username}, {"password_hash": 1}) or {}
    if not stored.get("password_hash") or not check_password((current or "").strip(), stored["password_hash"]):
        raise WrongPassword(which, f"that is not your {which}")
    if account.one_time_password_expired:
        raise InvalidInput(which, one_time_passwords.expired_message(account.username, account.password_expires_at))
    new = validate_password(new, "new password", [account.username, account.name, account.email])
    if new != repeat.strip():
        raise InvalidInput("repeat password", "the two passwords differ")
    if check_password(new, stored["password_hash"]):
        raise InvalidInput("new password", f"choose a password different from your {which}")
    changed = _users(db).update_one(  # only if no reset, disable or role change came in between
        {"username": account.username, "session_version": account.session_version},
        {
            "$set": {"password_hash": _hash(new), "must_change_password": False, "password_expires_at": None},
            "$inc": {"session_version": 1},
        },
    )
    if not changed.matched_count:
        raise Conflict(f"the account {account.username} changed while you chose a password; sign in again")
    audit.record(account, "user.change_password", account.username, db=db)
    return _existing(account.username, db)


def ensure_first_admin(*, db: Database) -> tuple[str, str] | None:
    """On first start of local accounts: create `admin` with a one-time password.

    Returns (username, password) when it created one, None when an active local admin exists.
    """
    users = _users(db)
    if users.count_documents({"role": "admin", "active": True, "provider": LOCAL}, limit=1):
        return None
    username = "admin"
    while users.count_documents({"username": username}, limit=1):
        username = f"admin-{secrets.token_hex(2)}"
    password = new_password()
    try:
        _insert(_new_local_account(username, "", "Administrator", "admin", password), db)
    except Conflict:
        return None  # another process created it at the same moment
    audit.record("system", "user.add", username, {"role": "admin", "provider": LOCAL, "first_start": True}, db=db)
    return username, password


def first_start_notice(*, db: Database) -> str | None:
    """On the first start of local accounts: create the admin; the text to print on the console.

    Printed once, by whichever starts first (`python -m crm serve`, or the web UI when run on
    its own), and never logged: the password is stored only as a hash.
    """
    created = ensure_first_admin(db=db)
    if created is None:
        return None
    username, password = created
    expires_at = _existing(username, db).password_expires_at
    assert expires_at is not None  # a one-time password always has its expiry
    expires = one_time_passwords.describe_expiry(expires_at)
    return (
        f"Mini CRM: created the first admin account.\n  username: {username}\n"
        f"  one-time password: {password}\n  (sign in with it before {expires}, then choose your own "
        f"password; after that, `python -m crm user reset-password {username}` gives a new one)"
    )


def oidc_sign_in(email: str, name: str, provider: str, default_role: str, *, db: Database) -> User:
    """Find or create the user of an allowed OIDC sign-in and stamp the sign-in time.

    The first user of a provider with no active admin becomes admin; later new ones get
    `default_role`.
    """
    email = normalise_email(email)
    users = _users(db)
    now = utc_now()
    existing = get_user(email, db=db)
    if existing is None:
        no_admin = users.count_documents({"role": "admin", "active": True, "provider": provider}, limit=1) == 0
        role = "admin" if no_admin else _check_role(default_role)
        try:
            _insert(
                {
                    "username": email,
                    "email": email,
                    "name": name or email,
                    "role": role,
                    "provider": provider,
                    "active": True,
                    "must_change_password": False,
                    "created_at": now,
                    "last_login": now,
                },
                db,
            )
        except Conflict:
            pass  # the same person signed in twice at once
    users.update_one({"username": email}, {"$set": {"last_login": now, "name": name or email}})
    return _existing(email, db)


def stamp_login(username: str, *, db: Database) -> None:
    _users(db).update_one({"username": username}, {"$set": {"last_login": utc_now()}})


def _login_key(username: str, login_id: str) -> str:
    return hashlib.sha256(f"{username}\n{login_id}".encode()).hexdigest()


def first_sight_of_login(username: str, login_id: str, session_version: int = 0, *, db: Database) -> bool:
    """True the first time any session shows this login (an OIDC provider's one ID token).

    Streamlit keeps an OIDC sign-in in a cookie that every new tab reuses; the sign-in is
    audited once, by the first session that sees it, and bound to the account's session version
    of that moment (`login_version`).
    """
    try:
        db["signins_seen"].insert_one(
            {
                "_id": _login_key(username, login_id),
                "username": username,
                "at": utc_now(),
                "session_version": session_version,
            }
        )
    except DuplicateKeyError:
        return False
    return True


def login_version(username: str, login_id: str, *, db: Database) -> int | None:
    """The session version an OIDC login was first seen under (None: never seen)."""
    doc = db["signins_seen"].find_one({"_id": _login_key(username, login_id)})
    return None if doc is None else int(doc.get("session_version", 0))
