"""Who may do what: the one table of roles and actions, and the check every acting function calls.

The core functions that change things (save a segment, send a campaign, create an API key, manage
users) call `require(user, action)` themselves, so hiding a button is never the only protection.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Protocol, TypeVar

from crm.errors import Forbidden

F = TypeVar("F", bound=Callable)

ROLES: dict[str, str] = {
    "admin": "manages users, API keys and settings; may do everything",
    "marketer": "builds segments and sends campaigns",
    "viewer": "reads dashboards, segments and campaigns; changes nothing",
}

# An API key acts with this role: it may write customers and orders and erase customers,
# nothing else. It is not a role a person can be given.
API_KEY_ROLE = "api"

_EVERYONE = frozenset(ROLES)
_MARKETING = frozenset({"admin", "marketer"})
_ADMIN = frozenset({"admin"})

# action -> (what it means, roles allowed). Pages, the API and the CLI all read this table.
PERMISSIONS: dict[str, tuple[str, frozenset[str]]] = {
    "data.view": ("see customers, orders and dashboards", _EVERYONE),
    "data.import": ("import customers and orders", _MARKETING | {API_KEY_ROLE}),
    "data.demo": ("load the demo data", _MARKETING),
    "data.export": ("export customers' data", _MARKETING),
    "customer.erase": ("erase a customer", _ADMIN | {API_KEY_ROLE}),
    "segment.save": ("save or change a segment", _MARKETING),
    "segment.delete": ("delete a segment", _MARKETING),
    "campaign.send": ("send a campaign", _MARKETING),
    "user.admin": ("add users, change roles, reset passwords", _ADMIN),
    "apikey.create": ("create an API key", _ADMIN),
    "apikey.revoke": ("revoke an API key", _ADMIN),
    "audit.read": ("read the audit log", _ADMIN),
    "settings.view": ("see the status of each part", _ADMIN),
    "settings.sending": ("change the sending rules (the frequency cap, DLT templates)", _ADMIN),
}


class Principal(Protocol):
    """Anyone who can ask: a signed-in user, an API key, the command line."""

    @property
    def username(self) -> str: ...

    @property
    def role(self) -> str: ...


def allowed(user: Principal | None, action: str) -> bool:
    """True when `user` may do `action` (a page uses it to decide which buttons to show)."""
    if action not in PERMISSIONS:
        raise ValueError(f"unknown action {action!r}; add it to crm.auth.permissions.PERMISSIONS")
    if user is None or not getattr(user, "active", True):
        return False
    return user.role in PERMISSIONS[action][1]


def require(user: Principal | None, action: str) -> None:
    """Raise Forbidden unless `user` may do `action`."""
    if allowed(user, action):
        return
    what = PERMISSIONS[action][0]
    if user is None:
        raise Forbidden(f"sign in to {what}")
    raise Forbidden(f"{user.username} ({user.role}) may not {what}")


def roles_allowed(action: str) -> list[str]:
    """Roles that may do `action`, in the order of ROLES (for help texts)."""
    allowed_roles = PERMISSIONS[action][1]
    return [role for role in ROLES if role in allowed_roles]


def requires(action: str, principal: str = "by") -> Callable[[F], F]:
    """Decorate a core function that writes or exports: it checks its `principal` argument may do
    `action` before anything else runs. A test finds every such function (and every function
    that writes to the database without one) by reading the source."""
    if action not in PERMISSIONS:
        raise ValueError(f"unknown action {action!r}; add it to PERMISSIONS")

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)
        if principal not in signature.parameters:
            raise TypeError(f"{fn.__qualname__} has no {principal!r} parameter to check")

        @functools.wraps(fn)
        def checked(*args, **kwargs):
            require(signature.bind_partial(*args, **kwargs).arguments.get(principal), action)
            return fn(*args, **kwargs)

        checked.required_action = action  # type: ignore[attr-defined]
        return checked  # type: ignore[return-value]

    return decorate


def who_may(action: str) -> str:
    """The roles that may do `action`, as a page says it: "admins and marketers"."""
    return " and ".join(f"{role}s" for role in roles_allowed(action))
