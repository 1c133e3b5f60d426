"""One error hierarchy for the core; UI, API and CLI each turn it into their own form."""

from __future__ import annotations


class CRMError(Exception):
    """Base of every error the core raises on purpose."""


class InvalidInput(CRMError):
    """Input that cannot be accepted: says where (location) and what is wrong (message)."""

    def __init__(self, location: str, message: str):
        super().__init__(f"{location}: {message}" if location else message)
        self.location = location
        self.message = message


class NotFound(CRMError):
    """A record that was asked for does not exist."""


class Conflict(CRMError):
    """The action clashes with the current state (a name taken, a campaign already running)."""


class Forbidden(CRMError):
    """The user asking may not do this."""


class Unavailable(CRMError):
    """A service we depend on (the database, Redis) cannot be reached."""
