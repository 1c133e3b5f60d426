"""Who is signed in and what they may do.

Accounts, roles and the one permissions table; no Streamlit here. The Streamlit sign-in gate and
`current_user` live in `crm.ui.session`.
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


__all__ = [
    "CLI",
    "PERMISSIONS",
    "ROLES",
    "Principal",
    "SystemPrincipal",
    "allowed",
    "require",
    "roles_allowed",
]
