"""Settings from the environment, in one place.

Every process (UI, API, CLI, worker) reads the same variables, so they share one data dir
and one database.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    mongodb_uri: str | None
    db_name: str
    redis_url: str | None
    gemini_api_key: str | None
    gemini_model: str
    api_host: str
    api_port: int
    ui_port: int
    max_body_bytes: int
    api_rate_per_second: int
    api_rate_burst: int
    api_key_guesses_per_minute: int
    stream_prefix: str
    stream_max_attempts: int
    stream_claim_idle_ms: int
    analytics_overlap_seconds: int
    analytics_poll_seconds: int
    allowed_emails: tuple[str, ...]
    allowed_domains: tuple[str, ...]
    default_role: str
    campaign_concurrency: int = 32
    campaign_rate_per_second: int = 0
    campaign_max_attempts: int = 5
    campaign_lease_seconds: int = 15
    receipt_flush_ms: int = 50
    receipt_flush_size: int = 500
    receipt_secret: str | None = None
    receipt_secret_previous: str | None = None
    signature_tolerance_seconds: int = 300
    vendor_url: str | None = None
    vendor_key: str | None = None
    receipt_url: str | None = None
    vendor_delay_ms: int = 800
    vendor_failure_rate: float = 0.1
    vendor_fault_rate: float = 0.0
    gemini_timeout_ms: int = 8_000
    gemini_attempts: int = 3
    gemini_base_url: str | None = None
    db_timeout_ms: int = 2_000
    db_wedged_seconds: float = 10.0

    @property
    def embedded(self) -> bool:
        """True when we run our own embedded MongoDB-compatible server."""
        return not self.mongodb_uri


def _number(name: str, default, kind=int, what: str = "a whole number"):
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError as exc:
        raise SystemExit(f"{name}={raw!r} is not {what}; set it to e.g. {default}") from exc


def _int(name: str, default: int) -> int:
    return _number(name, default)


def _float(name: str, default: float) -> float:
    return _number(name, default, float, "a number")


def _csv(name: str) -> tuple[str, ...]:
    raw = os.environ.get(name, "")
    return tuple(item.strip().lower() for item in raw.split(",") if item.strip())


def load_settings() -> Settings:
    """Read the settings now (cheap; called again after tests change the environment)."""
    env = os.environ.get
    return Settings(
        data_dir=Path(env("CRM_DATA_DIR") or "data").resolve(),
        mongodb_uri=env("MONGODB_URI") or None,
        # How long a request waits for the database server before answering 503 (and a
        # connection attempt before giving up): short, so a dead database answers fast.
        db_timeout_ms=_int("CRM_DB_TIMEOUT_MS", 2_000),
        # The owner of the embedded server restarts it after it failed its probes this long
        # (at once when its process is gone).
        db_wedged_seconds=_float("CRM_DB_WEDGED_SECONDS", 10.0),
        db_name=env("CRM_DB_NAME") or "crm",
        redis_url=env("REDIS_URL") or None,
        gemini_api_key=env("GEMINI_API_KEY") or None,
        gemini_model=env("CRM_GEMINI_MODEL") or "gemini-3.8-flash",
        # Gemini: time allowed per request, tries on 429/5xx/timeouts, and another endpoint
        # (a proxy, or a local fake in tests); unset: Google's.
        gemini_timeout_ms=_int("CRM_GEMINI_TIMEOUT_MS", 8_000),
        gemini_attempts=_int("CRM_GEMINI_ATTEMPTS", 3),
        gemini_base_url=env("CRM_GEMINI_BASE_URL") or None,
        api_host=env("CRM_API_HOST") or "127.0.0.1",
        api_port=_int("CRM_API_PORT", 8000),
        ui_port=_int("CRM_UI_PORT", 8501),
        max_body_bytes=_int("CRM_MAX_BODY_BYTES", 10 * 1024 * 1024),
        # Token bucket per API key: sustained requests/s and the burst allowed on top.
        api_rate_per_second=_int("CRM_API_RATE_PER_SECOND", 50),
        api_rate_burst=_int("CRM_API_RATE_BURST", 100),
        # Wrong API keys one client address may send a minute (also the burst) before 429s.
        api_key_guesses_per_minute=_int("CRM_API_KEY_GUESSES_PER_MINUTE", 10),
        # Redis key names start with this, so tests and deployments can share one Redis.
        stream_prefix=env("CRM_STREAM_PREFIX") or "crm:",
        stream_max_attempts=_int("CRM_STREAM_MAX_ATTEMPTS", 5),
        stream_claim_idle_ms=_int("CRM_STREAM_CLAIM_IDLE_MS", 30_000),
        # The analytic copy re-reads this many seconds before its watermark, so writes that
        # commit slightly out of updated_at order are never skipped.
        analytics_overlap_seconds=_int("CRM_ANALYTICS_OVERLAP_SECONDS", 10),
        # A reader checks MongoDB for changes at least this often (writers on other hosts).
        analytics_poll_seconds=_int("CRM_ANALYTICS_POLL_SECONDS", 5),
        # Google sign-in lets in only these emails and domains (comma-separated lists).
        allowed_emails=_csv("CRM_ALLOWED_EMAILS"),
        allowed_domains=tuple(d.lstrip("@") for d in _csv("CRM_ALLOWED_DOMAINS")),
        default_role=env("CRM_DEFAULT_ROLE") or "viewer",
        # Campaign dispatch: parallel vendor requests, messages/s (0 = no throttle), tries per
        # message on timeouts and 5xx, and how long a dispatcher's claim lasts without renewal.
        campaign_concurrency=_int("CRM_CAMPAIGN_CONCURRENCY", 32),
        campaign_rate_per_second=_int("CRM_CAMPAIGN_RATE_PER_SECOND", 0),
        campaign_max_attempts=_int("CRM_CAMPAIGN_MAX_ATTEMPTS", 5),
        campaign_lease_seconds=_int("CRM_CAMPAIGN_LEASE_SECONDS", 15),
        # Delivery receipts are written in one bulk_write every N ms or N receipts.
        receipt_flush_ms=_int("CRM_RECEIPT_FLUSH_MS", 50),
        receipt_flush_size=_int("CRM_RECEIPT_FLUSH_SIZE", 500),
        # Shared HMAC secret of vendor and receipt endpoint; unset: one generated per data dir.
        receipt_secret=env("CRM_RECEIPT_SECRET") or None,
        # During a rotation the previous secret still verifies (never signs); drop it once the
        # vendor signs with the new one.
        receipt_secret_previous=env("CRM_RECEIPT_SECRET_PREVIOUS") or None,
        # A signed webhook older than this, or this far in the future, is refused (replays).
        signature_tolerance_seconds=_int("CRM_SIGNATURE_TOLERANCE_SECONDS", 300),
        # A messaging vendor's base URL; unset: the mock vendor hosted by the sending process.
        vendor_url=env("CRM_VENDOR_URL") or None,
        # The key the vendor asks of senders (`Authorization: Bearer <key>`); unset: one
        # generated per data dir, shared by the mock vendor and the dispatcher.
        vendor_key=env("CRM_VENDOR_KEY") or None,
        # Where the mock vendor posts receipts; unset: the API hosting it (never an address
        # taken from a request's headers).
        receipt_url=env("CRM_RECEIPT_URL") or None,
        # The mock vendor: longest receipt delay, share of FAILED outcomes, share of 503 answers.
        vendor_delay_ms=_int("CRM_VENDOR_DELAY_MS", 800),
        vendor_failure_rate=_float("CRM_VENDOR_FAILURE_RATE", 0.1),
        vendor_fault_rate=_float("CRM_VENDOR_FAULT_RATE", 0.0),
    )
