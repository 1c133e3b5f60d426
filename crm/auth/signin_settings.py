"""Which sign-in applies (Google/OIDC or local accounts), who is allowed in, the cookie secret.

Everything here reads plain mappings (st.secrets or a dict in tests) and crm.config settings, so it
can be checked without a browser.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from crm.config import Settings
from crm.store.data_dir_secret import data_dir_secret

COOKIE_SECRET_FILE = "cookie_secret"


@dataclass(frozen=True)
class OidcProvider:
    name: str | None  # argument of st.login(); None for an unnamed [auth] section
    metadata_url: str

    @property
    def label(self) -> str:
        host = urlparse(self.metadata_url).hostname or "?"
        return f"{self.name or 'OIDC'} ({host})"

    @property
    def stored_as(self) -> str:
        """The `provider` recorded on users who sign in through it."""
        return self.name or "oidc"


def oidc_provider(secrets: Mapping) -> OidcProvider | None:
    """The OIDC provider configured in secrets' [auth] section, `google` first; None if none."""
    auth = secrets.get("auth") if secrets else None
    if not isinstance(auth, Mapping):
        return None
    named = {k: v for k, v in auth.items() if isinstance(v, Mapping) and v.get("server_metadata_url")}
    if named:
        name = "google" if "google" in named else sorted(named)[0]
        return OidcProvider(name, str(named[name]["server_metadata_url"]))
    if auth.get("server_metadata_url"):
        return OidcProvider(None, str(auth["server_metadata_url"]))
    return None


@dataclass(frozen=True)
class AllowList:
    emails: frozenset[str]
    domains: frozenset[str]

    def allows(self, email: str) -> bool:
        email = (email or "").strip().lower()
        if not email or "@" not in email:
            return False
        return email in self.emails or email.rsplit("@", 1)[1] in self.domains

    @property
    def empty(self) -> bool:
        return not self.emails and not self.domains


def _as_list(value) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    return [str(v).strip().lower().lstrip("@") for v in (value or []) if str(v).strip()]


def allow_list(settings: Settings, secrets: Mapping | None = None) -> AllowList:
    """CRM_ALLOWED_EMAILS / CRM_ALLOWED_DOMAINS together with secrets' [crm] allowed_emails/_domains."""
    crm = (secrets or {}).get("crm") or {}
    emails = set(settings.allowed_emails) | set(_as_list(crm.get("allowed_emails")))
    domains = set(settings.allowed_domains) | set(_as_list(crm.get("allowed_domains")))
    return AllowList(frozenset(emails), frozenset(domains))


def default_role(settings: Settings, secrets: Mapping | None = None) -> str:
    return str(((secrets or {}).get("crm") or {}).get("default_role") or settings.default_role)


def cookie_secret(settings: Settings, secrets: Mapping | None = None) -> str:
    """Secret that signs the sign-in cookie: from secrets, else generated once into the data dir.

    The generated file lives under CRM_DATA_DIR (ignored by git), readable by its owner only.
    """
    auth = (secrets or {}).get("auth") or {}
    crm = (secrets or {}).get("crm") or {}
    configured = auth.get("cookie_secret") or crm.get("cookie_secret")
    if configured:
        return str(configured)
    return data_dir_secret(settings.data_dir, COOKIE_SECRET_FILE)


def secrets_files(app_dir: Path) -> list[Path]:
    """Where `streamlit run` started in `app_dir` reads secrets by default (later files win)."""
    return [Path.home() / ".streamlit" / "secrets.toml", app_dir / ".streamlit" / "secrets.toml"]


def read_secrets(app_dir: Path) -> dict:
    """The secrets the web UI will see, read outside Streamlit (by `python -m crm serve`)."""
    merged: dict = {}
    for path in secrets_files(app_dir):
        if path.is_file():
            merged.update(tomllib.loads(path.read_text()))
    return merged
