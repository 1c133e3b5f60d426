"""A campaign as composed, as stored, and its counters."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, ValidationInfo, field_validator

from crm.errors import InvalidInput
from crm.segment_engine.catalogue import Catalogue

MAX_TEMPLATES = 5
# communication_log statuses; a status only moves forward: PENDING < SENT < DELIVERED | FAILED.
PENDING, SENT, DELIVERED, FAILED = "PENDING", "SENT", "DELIVERED", "FAILED"
FINAL = (DELIVERED, FAILED)
# A member of the campaign's random holdout: never sent, never pending; the comparison group.
HOLDOUT = "HOLDOUT"
MAX_HOLDOUT_PERCENT = 50
DEFAULT_WINDOW_DAYS, MAX_WINDOW_DAYS = 7, 90
# campaign statuses. AWAITING: every message handed to the vendor, some receipts still owed;
# COMPLETED only once no row is PENDING or SENT. SCHEDULED: waits for its `scheduled_at`, when
# the scheduler claims it like any send; CANCELLED: a scheduled campaign called off, never sent.
DRAFT, SENDING, AWAITING, COMPLETED = "draft", "sending", "awaiting_receipts", "completed"
SCHEDULED, CANCELLED = "scheduled", "cancelled"


def status_label(status: str, outstanding: int) -> str:
    """A campaign's status in words, with how many messages it still waits for (scheduled and
    cancelled campaigns have none: their audience is taken when sending starts)."""
    if status == AWAITING:
        return f"awaiting receipts ({outstanding} outstanding)" if outstanding else COMPLETED
    if status == SENDING and outstanding:
        return f"sending ({outstanding} outstanding)"
    return status


class CampaignDraft(BaseModel):
    """What the analyst composed: audience, channel and message templates (one per variant)."""

    name: str = Field(min_length=1, max_length=120)
    objective: str = Field(default="", max_length=500)
    channel: Literal["sms", "email", "whatsapp"] = "sms"
    templates: list[str] = Field(min_length=1, max_length=MAX_TEMPLATES)
    rules: dict[str, Any]
    segment_id: str | None = None
    segment_name: str | None = None
    as_of: date | None = None
    # Share of the eligible audience held out at random (never messaged), to measure lift against.
    holdout_percent: int = Field(default=0, ge=0, le=MAX_HOLDOUT_PERCENT, strict=True)
    # Days after a message in which a completed order counts as a conversion.
    window_days: int = Field(default=DEFAULT_WINDOW_DAYS, ge=1, le=MAX_WINDOW_DAYS, strict=True)
    # SMS: the template registered on TRAI's DLT platform (crm.campaigns.dlt).
    dlt_template_id: str | None = Field(default=None, max_length=25)

    @field_validator("holdout_percent", mode="before")
    @classmethod
    def _holdout(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_HOLDOUT_PERCENT:
            raise InvalidInput(
                "holdout",
                f"the holdout is a whole percent from 0 to {MAX_HOLDOUT_PERCENT}, got {value!r}; 10 is a good start",
            )
        return value

    @field_validator("window_days", mode="before")
    @classmethod
    def _window(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_WINDOW_DAYS:
            raise InvalidInput(
                "window days",
                f"the attribution window is a whole number of days from 1 to {MAX_WINDOW_DAYS}, got {value!r}",
            )
        return value

    @field_validator("name", "objective", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("rules")
    @classmethod
    def _valid_rule(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        from crm.segment_engine import parse_rule

        return parse_rule(value, (info.context or {}).get("fields")).to_json()

    @classmethod
    def build(cls, catalogue: Catalogue | None = None, **fields: Any) -> CampaignDraft:
        """Like the constructor, but an invalid field is an InvalidInput naming it; `catalogue`:
        the workspace's fields, when the rule may name its custom attributes."""
        try:
            return cls.model_validate(fields, context={"fields": catalogue})
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "campaign"
            cause = err.get("ctx", {}).get("error")
            if isinstance(cause, InvalidInput):
                raise InvalidInput(f"rules: {cause.location}", cause.message) from None
            raise InvalidInput(where, err["msg"]) from None


class CampaignStats(BaseModel):
    """The counters of the CLI's JSON line, derived from communication_log (exact by construction).

    audience = delivered + failed + pending; sent = messages the vendor accepted.
    """

    campaign_id: str
    audience: int
    sent: int
    delivered: int
    failed: int
    pending: int
    holdout: int = 0  # held out at random: not in audience, never sent

    @property
    def delivery_rate(self) -> float | None:
        settled = self.delivered + self.failed
        return self.delivered / settled if settled else None


class Campaign(BaseModel):
    id: str
    name: str
    objective: str = ""
    channel: str
    templates: list[str]
    rules: dict[str, Any]
    description: str = ""
    segment_id: str | None = None
    segment_name: str | None = None
    as_of: date
    holdout_percent: int = 0
    window_days: int = DEFAULT_WINDOW_DAYS
    dlt_template_id: str | None = None
    status: str
    owner: str | None = None
    audience: int | None = None  # messages to send (set by the snapshot)
    matched: int | None = None  # customers the rule matched
    excluded: dict[str, int] = Field(default_factory=dict)
    counters: dict[str, int] = Field(default_factory=dict)
    created_at: datetime
    scheduled_at: datetime | None = None  # UTC; set for a campaign scheduled rather than sent at once
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None  # when the scheduler, not a person, called it off
    started_at: datetime | None = None
    dispatched_at: datetime | None = None
    finished_at: datetime | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None
    snapshot_done: bool = False

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Campaign:
        data = {k: v for k, v in doc.items() if k != "_id"}
        data["as_of"] = date.fromisoformat(doc["as_of"])
        return cls(id=str(doc["_id"]), **data)
