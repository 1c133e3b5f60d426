"""The status of each part the app depends on: database, analytic copy, Redis, Gemini, sign-in."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse

from crm.auth.signin_settings import allow_list, oidc_provider
from crm.config import Settings
from crm.formats.indian_numbers import as_text
from crm.store.documents import Database


@dataclass(frozen=True)
class PartStatus:
    part: str
    ok: bool | None  # None: not configured, and the app works without it
    summary: str


def database_status(db: Database, settings: Settings) -> PartStatus:
    where = "embedded server" if settings.embedded else f"MONGODB_URI ({urlparse(settings.mongodb_uri or '').hostname})"
    started = time.perf_counter()
    try:
        db.command("ping")
    except Exception as exc:  # noqa: BLE001 - any failure is the status we report
        return PartStatus("Database", False, f"{where}: not answering ({type(exc).__name__}: {exc})")
    ms = (time.perf_counter() - started) * 1000
    return PartStatus("Database", True, f"{where}, database `{settings.db_name}`: answered ping in {ms:.0f} ms")


def analytic_copy_status(settings: Settings) -> PartStatus:
    """How much the analytic copy holds, and the MongoDB documents it had to leave out."""
    from crm.analytics.analytic_copy import open_copy

    try:
        copy = open_copy(settings)
        counts, left_out = copy.counts(), copy.skipped_summary()
    except Exception as exc:  # noqa: BLE001 - any failure is the status we report
        return PartStatus("Analytic copy", False, f"could not be opened ({type(exc).__name__}: {exc})")
    held = f"{counts['customers']:,} customers and {counts['orders']:,} orders"
    if not left_out.total:
        return PartStatus("Analytic copy", True, f"{held}; every document loaded")
    what = " and ".join(f"{n:,} {kind if n != 1 else kind[:-1]}" for kind, n in left_out.counts.items())
    # Ids and reasons come from the data: escaped, since the page reads Markdown.
    shown = "; ".join(f"{s.kind[:-1]} {as_text(repr(s.row_id))}: {as_text(s.reason)}" for s in left_out.examples)
    more = f" and {left_out.total - len(left_out.examples):,} more" if left_out.total > len(left_out.examples) else ""
    return PartStatus(
        "Analytic copy",
        False,
        f"{held}; left out {what} that cannot be loaded, so segments, exports and the "
        f"dashboard count without them ({shown}{more}). Write them again with the API or an "
        "import, or correct them in MongoDB and rebuild the analytic copy.",
    )


def redis_status(settings: Settings) -> PartStatus:
    if not settings.redis_url:
        return PartStatus("Redis", None, "not configured: the API writes straight to the database")
    import redis

    host = urlparse(settings.redis_url).hostname
    try:
        redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001
        return PartStatus("Redis", False, f"{host}: not answering ({type(exc).__name__})")
    return PartStatus("Redis", True, f"{host}: answered ping; the API queues writes for the worker")


def gemini_status(settings: Settings) -> PartStatus:
    # Not called from here: a status page should not spend quota. Failures show where AI is used.
    if not settings.gemini_api_key:
        return PartStatus("Gemini", None, "no GEMINI_API_KEY: the offline parser and templater answer")
    return PartStatus("Gemini", True, f"key set, model `{settings.gemini_model}`")


def signin_status(settings: Settings, secrets: Mapping, db: Database) -> PartStatus:
    provider = oidc_provider(secrets)
    if provider is None:
        count = db["users"].count_documents({"provider": "local", "active": True})
        return PartStatus("Sign-in", True, f"local accounts ({count} active); no [auth] provider in secrets")
    allow = allow_list(settings, secrets)
    if allow.empty:
        return PartStatus(
            "Sign-in",
            False,
            f"{provider.label}: the allow-list is empty, so only users "
            "an admin added can sign in (set CRM_ALLOWED_EMAILS / CRM_ALLOWED_DOMAINS)",
        )
    return PartStatus(
        "Sign-in",
        True,
        f"{provider.label}; allow-list: {len(allow.emails)} emails, "
        f"domains {', '.join(sorted(allow.domains)) or 'none'}",
    )


def all_parts(db: Database, settings: Settings, secrets: Mapping) -> list[PartStatus]:
    return [
        database_status(db, settings),
        analytic_copy_status(settings),
        redis_status(settings),
        gemini_status(settings),
        signin_status(settings, secrets, db),
    ]
