"""Who is signed in and what they may do.

Core modules import `require` (cheap, no Streamlit); pages use `current_user` and the sign-in gate
from `crm.auth.session`, imported lazily here so the API and CLI never load Streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass

from crm.auth.permissions import PERMISSIONS, ROLES, Principal, allowed, require, roles_allowed


@dataclass(frozen=True)
class SystemPrincipal:
    """Someone acting outside the web UI: the operator at the command line (who owns the data dir)."""

    username: str
    role: str
    active: bool = True


CLI = SystemPrincipal("cli", "admin")


def __getattr__(name: str):
    if name in ("current_user", "sign_in_gate", "account_sidebar"):
        from crm.auth import session

        return getattr(session, name)
    raise AttributeError(name)


__all__ = [
    "CLI",
    "account_sidebar",
    "PERMISSIONS",
    "ROLES",
    "Principal",
    "SystemPrincipal",
    "allowed",
    "current_user",
    "require",
    "roles_allowed",
    "sign_in_gate",
]
