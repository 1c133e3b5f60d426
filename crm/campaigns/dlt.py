"""TRAI's DLT rules for commercial SMS in India: every message names a template registered on the
operator's DLT platform and goes under a registered sender header; the operator drops a message
whose text is not the template's fixed text with its variables filled in.

A workspace registers its approved templates here (id, header, text with `{#var#}` where a value
goes). Once it has any, an SMS campaign must name one, and the pre-send check holds every
rendered message against its fixed text, so a message the operator would drop never leaves.
Without any, SMS is sent as before and the check says DLT is not set up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from crm.auth import audit
from crm.auth.permissions import Principal, requires
from crm.errors import InvalidInput
from crm.store.clock import utc_now
from crm.store.documents import Database

DLT_TEMPLATES = "dlt_templates"
VARIABLE = "{#var#}"
MAX_VARIABLE = 30  # characters a DLT variable may hold
_TEMPLATE_ID = re.compile(r"[0-9]{12,25}")
_HEADER = re.compile(r"[A-Z]{6}")


@dataclass(frozen=True)
class DltTemplate:
    template_id: str
    header: str  # the sender id shown on the phone, six letters (e.g. MINCRM)
    text: str

    def __post_init__(self) -> None:
        if not _TEMPLATE_ID.fullmatch(self.template_id):
            raise InvalidInput("DLT template id", "the 12 to 25 digits the DLT platform gave the template")
        if not _HEADER.fullmatch(self.header):
            raise InvalidInput("sender header", "the six capital letters registered as the header, e.g. MINCRM")
        if not self.text.strip() or len(self.text) > 2_000:
            raise InvalidInput("template text", f"the approved text, with {VARIABLE} where a value goes")

    def pattern(self) -> re.Pattern[str]:
        """The fixed text as the operator compares it: each variable 0-30 characters."""
        parts = [re.escape(part) for part in self.text.split(VARIABLE)]
        return re.compile(f"(?s){f'.{{0,{MAX_VARIABLE}}}'.join(parts)}")

    def matches(self, message: str) -> bool:
        return self.pattern().fullmatch(message) is not None


def dlt_templates(db: Database) -> list[DltTemplate]:
    return [DltTemplate(doc["_id"], doc["header"], doc["text"]) for doc in db[DLT_TEMPLATES].find().sort("_id")]


def dlt_template(db: Database, template_id: str) -> DltTemplate | None:
    doc = db[DLT_TEMPLATES].find_one({"_id": template_id})
    return DltTemplate(doc["_id"], doc["header"], doc["text"]) if doc else None


@requires("settings.sending")
def register_dlt_template(db: Database, template: DltTemplate, *, by: Principal) -> None:
    """Add or replace an approved template (as the DLT platform shows it)."""
    db[DLT_TEMPLATES].replace_one(
        {"_id": template.template_id},
        {"header": template.header, "text": template.text, "updated_at": utc_now(), "by": by.username},
        upsert=True,
    )
    audit.record(by, "settings.dlt", template.template_id, {"header": template.header}, db=db)


@dataclass(frozen=True)
class DltRule:
    """What DLT asks of one SMS campaign: whether the workspace enforces it (it has registered
    templates) and the template the campaign names (None: none, or not registered)."""

    enforced: bool = False
    template: DltTemplate | None = None
    named: str | None = None  # the id the campaign gave


NO_DLT = DltRule()


def dlt_rule(db: Database, channel: str, template_id: str | None) -> DltRule:
    if channel != "sms":
        return NO_DLT
    enforced = db[DLT_TEMPLATES].find_one({}, {"_id": 1}) is not None
    template = dlt_template(db, template_id) if template_id else None
    return DltRule(enforced, template, template_id)
