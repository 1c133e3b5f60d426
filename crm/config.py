"""Settings from the environment, in one place: one table, each setting's variable, default and
meaning written once (the README's configuration table is checked against it by a test).

Every process (UI, API, CLI, worker) reads the same variables, so they share one data dir
and one database. A value that cannot be read is our `InvalidInput` naming the variable.

A dataclass table rather than pydantic-settings: `Settings` stays a frozen dataclass that tests and
edges derive from with `dataclasses.replace`, and reading a variable is one small function here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from crm.errors import InvalidInput


def setting(env: str, default: Any, meaning: str, read: Callable[[str], Any] = str, shown: str | None = None) -> Any:
    """One row of the table: the variable, its default, what it does, how its text is read, and
    how the README shows the default when that is not the value itself."""
    return field(default=default, metadata={"env": env, "meaning": meaning, "read": read, "shown": shown})


def _whole(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError("a whole number") from None


def _number(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError("a number") from None


def _hours(raw: str) -> float:
    try:
        hours = float(raw)
    except ValueError:
        hours = -1.0
    if not 0 < hours <= 24 * 365:
        raise ValueError("a number of hours between 0 and 8760")
    return hours


def _sweep_seconds(raw: str) -> float:
    return max(0.1, _number(raw))


def _zone(raw: str) -> str:
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(raw)
    except (ValueError, KeyError, OSError):
        raise ValueError("an IANA time zone name such as Asia/Kolkata or UTC") from None
    return raw


def _region(raw: str) -> str:
    if not (len(raw) == 2 and raw.isalpha()):
        raise ValueError("a two-letter country code such as IN")
    return raw.upper()


def _names(raw: str) -> tuple[str, ...]:
    return tuple(item.strip().lower() for item in raw.split(",") if item.strip())


def _domains(raw: str) -> tuple[str, ...]:
    return tuple(domain.lstrip("@") for domain in _names(raw))


@dataclass(frozen=True)
class Settings:
    data_dir: Path = setting(
        "CRM_DATA_DIR", Path("data"), "runtime data: embedded database files, analytic copy, logs", Path, "./data"
    )
    mongodb_uri: str | None = setting("MONGODB_URI", None, "use this MongoDB server instead of the embedded one")
    db_name: str = setting("CRM_DB_NAME", "crm", "database name")
    # Short, so a dead database answers fast.
    db_timeout_ms: int = setting(
        "CRM_DB_TIMEOUT_MS", 2_000, "how long a request waits for the database before it is answered 503", _whole
    )
    db_wedged_seconds: float = setting(
        "CRM_DB_WEDGED_SECONDS", 10.0, "how long the embedded server may fail its probes before a restart", _number
    )
    one_time_password_hours: float = setting(
        "CRM_ONE_TIME_PASSWORD_HOURS", 72.0, "how long a one-time password works", _hours
    )
    time_zone: str = setting(
        "CRM_TIME_ZONE", "Asia/Kolkata", "workspace time zone: imported dates and times without an offset", _zone
    )
    phone_region: str = setting(
        "CRM_PHONE_REGION", "IN", "country of phone numbers written without a +country code", _region
    )
    redis_url: str | None = setting("REDIS_URL", None, "queue API writes through Redis Streams")
    gemini_api_key: str | None = setting("GEMINI_API_KEY", None, "use Gemini for AI features")
    gemini_model: str = setting("CRM_GEMINI_MODEL", "gemini-3.8-flash", "Gemini model")
    gemini_timeout_ms: int = setting("CRM_GEMINI_TIMEOUT_MS", 8_000, "time per Gemini request", _whole)
    gemini_attempts: int = setting("CRM_GEMINI_ATTEMPTS", 3, "tries on 429, 5xx and timeouts", _whole)
    gemini_base_url: str | None = setting("CRM_GEMINI_BASE_URL", None, "another Gemini endpoint (a proxy, a fake)")
    api_host: str = setting("CRM_API_HOST", "127.0.0.1", "REST API address")
    api_port: int = setting("CRM_API_PORT", 8000, "REST API port", _whole)
    ui_port: int = setting("CRM_UI_PORT", 8501, "web UI port", _whole)
    max_body_bytes: int = setting("CRM_MAX_BODY_BYTES", 10 * 1024 * 1024, "largest accepted API body", _whole)
    api_rate_per_second: int = setting("CRM_API_RATE_PER_SECOND", 50, "sustained requests/s per API key", _whole)
    api_rate_burst: int = setting("CRM_API_RATE_BURST", 100, "burst per API key on top", _whole)
    api_key_guesses_per_minute: int = setting(
        "CRM_API_KEY_GUESSES_PER_MINUTE", 10, "wrong API keys one address may send a minute", _whole
    )
    # So tests and deployments can share one Redis.
    stream_prefix: str = setting("CRM_STREAM_PREFIX", "crm:", "prefix of the Redis key names")
    stream_max_attempts: int = setting("CRM_STREAM_MAX_ATTEMPTS", 5, "deliveries before dead-lettering", _whole)
    stream_claim_idle_ms: int = setting(
        "CRM_STREAM_CLAIM_IDLE_MS", 30_000, "a pending entry idle this long is reclaimed", _whole
    )
    # Writes that commit slightly out of updated_at order are never skipped.
    analytics_overlap_seconds: int = setting(
        "CRM_ANALYTICS_OVERLAP_SECONDS", 10, "the analytic copy re-reads this far behind its watermark", _whole
    )
    # Writers on other hosts.
    analytics_poll_seconds: int = setting(
        "CRM_ANALYTICS_POLL_SECONDS", 5, "a reader checks MongoDB for changes at least this often", _whole
    )
    allowed_emails: tuple[str, ...] = setting("CRM_ALLOWED_EMAILS", (), "Google sign-in: emails allowed in", _names)
    allowed_domains: tuple[str, ...] = setting("CRM_ALLOWED_DOMAINS", (), "Google sign-in: domains allowed", _domains)
    default_role: str = setting("CRM_DEFAULT_ROLE", "viewer", "role of a new Google user")
    campaign_concurrency: int = setting("CRM_CAMPAIGN_CONCURRENCY", 32, "vendor requests in flight", _whole)
    campaign_rate_per_second: int = setting("CRM_CAMPAIGN_RATE_PER_SECOND", 0, "messages/s (0: no throttle)", _whole)
    campaign_max_attempts: int = setting("CRM_CAMPAIGN_MAX_ATTEMPTS", 5, "tries per message", _whole)
    campaign_lease_seconds: int = setting("CRM_CAMPAIGN_LEASE_SECONDS", 15, "a dispatcher's claim", _whole)
    receipt_flush_ms: int = setting("CRM_RECEIPT_FLUSH_MS", 50, "receipts are stored together every N ms", _whole)
    receipt_flush_size: int = setting("CRM_RECEIPT_FLUSH_SIZE", 500, "or every N receipts", _whole)
    receipt_secret: str | None = setting(
        "CRM_RECEIPT_SECRET", None, "HMAC secret of delivery receipts (unset: one per data dir)", shown="generated"
    )
    # Verifies, never signs; dropped once the vendor signs with the new one.
    receipt_secret_previous: str | None = setting(
        "CRM_RECEIPT_SECRET_PREVIOUS", None, "during a rotation, the old receipt secret"
    )
    # Against replays.
    signature_tolerance_seconds: int = setting(
        "CRM_SIGNATURE_TOLERANCE_SECONDS", 300, "oldest (and furthest ahead) signature accepted", _whole
    )
    receipt_sweep_seconds: float | None = setting(
        "CRM_RECEIPT_SWEEP_SECONDS",
        None,
        "a message still SENT this long after its receipt was due has it posted again (unset: see sweep_grace)",
        _sweep_seconds,
        "30 (or 3× the vendor delay)",
    )
    vendor_url: str | None = setting("CRM_VENDOR_URL", None, "messaging vendor base URL (unset: the mock vendor)")
    vendor_key: str | None = setting(
        "CRM_VENDOR_KEY", None, "key the vendor asks of senders (unset: one per data dir)", shown="generated"
    )
    unsubscribe_secret: str | None = setting(
        "CRM_UNSUBSCRIBE_SECRET", None, "HMAC secret of unsubscribe links (unset: one per data dir)", shown="generated"
    )
    # Unsubscribe links point here: the API as the world reaches it.
    public_url: str = setting("CRM_PUBLIC_URL", "http://127.0.0.1:8000", "public base URL of the API")
    # Never an address taken from a request's headers.
    receipt_url: str | None = setting("CRM_RECEIPT_URL", None, "where the mock vendor posts receipts")
    vendor_delay_ms: int = setting("CRM_VENDOR_DELAY_MS", 800, "mock vendor: longest receipt delay", _whole)
    vendor_failure_rate: float = setting("CRM_VENDOR_FAILURE_RATE", 0.1, "mock vendor: share FAILED", _number)
    vendor_fault_rate: float = setting("CRM_VENDOR_FAULT_RATE", 0.0, "mock vendor: share answered 503", _number)

    @property
    def embedded(self) -> bool:
        """True when we run our own embedded MongoDB-compatible server."""
        return not self.mongodb_uri


def shown_default(value: Any) -> str:
    """A default as the README's table writes it."""
    if value is None or value == ():
        return "unset"
    if isinstance(value, float):
        return f"{value:f}".rstrip("0").rstrip(".")
    return str(value)


def load_settings() -> Settings:
    """Read the settings now (cheap; called again after tests change the environment)."""
    values: dict[str, Any] = {}
    for spec in fields(Settings):
        env, read = spec.metadata["env"], spec.metadata["read"]
        raw = os.environ.get(env, "").strip()
        if not raw:
            continue
        try:
            values[spec.name] = read(raw)
        except ValueError as exc:
            raise InvalidInput(
                env, f"{raw[:40]!r} is not {exc}; set it to e.g. {shown_default(spec.default)}, or unset it"
            ) from None
    settings = Settings(**values)
    return replace(settings, data_dir=settings.data_dir.resolve())
