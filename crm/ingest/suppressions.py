"""Suppression lists: contacts (emails or phone numbers) we must never message on the channels
the list names, such as a DND export or an old provider's unsubscribes.

Each contact is kept in `suppressions` with its channels, so a customer imported later with that
email or number is held back too (the snapshot and the check exclude them, counted as
`suppressed`); customers on file now are also opted out, which their page shows. Strict like
every import: one unreadable contact and nothing is written.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from pydantic_core import PydanticCustomError
from pymongo import UpdateOne

from crm.auth import audit
from crm.auth.permissions import Principal, requires
from crm.ingest import values
from crm.ingest.consent import CHANNELS
from crm.ingest.opt_out import opt_out
from crm.ingest.values import e164
from crm.store.clock import utc_now
from crm.store.documents import Database
from crm.store.schema import IN_QUERY_CHUNK

SUPPRESSIONS = "suppressions"
CONTACT_COLUMNS = ("email", "phone", "mobile", "contact", "number")


@dataclass(frozen=True)
class SuppressionReport:
    contacts: int
    opted_out: int  # customers on file whose consent this turned off


def contact_key(value: str, region: str) -> str | None:
    """The form customers' contacts are stored in (`values.email`, `values.e164`): an email as
    email-validator normalises it, a phone number in E.164; None when it is neither."""
    value = value.strip()
    if "@" in value:
        try:
            return values.email(value)
        except PydanticCustomError:
            return None
    return e164(value, region)


def read_contacts(text: str, region: str) -> list[str]:
    """Contacts of a CSV: its email/phone column(s), or its only column; InvalidInput naming the
    first row that is neither."""
    from crm.errors import InvalidInput

    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    if not rows:
        raise InvalidInput("file", "the file is empty: give one email or phone number per row")
    header = [cell.strip().lower() for cell in rows[0]]
    columns = [i for i, name in enumerate(header) if name in CONTACT_COLUMNS]
    if not columns and len(header) == 1:
        columns, start = [0], (0 if contact_key(rows[0][0], region) else 1)
    elif not columns:
        raise InvalidInput("file", f"no email or phone column among {', '.join(rows[0])}: name one 'email' or 'phone'")
    else:
        start = 1
    contacts: list[str] = []
    for number, row in enumerate(rows[start:], start=start + 1):
        for i in columns:
            cell = row[i].strip() if i < len(row) else ""
            if not cell:
                continue
            key = contact_key(cell, region)
            if key is None:
                raise InvalidInput(
                    f"row {number}", f"{cell[:40]!r} is neither an email nor a phone number; fix or remove the row"
                )
            contacts.append(key)
    return list(dict.fromkeys(contacts))


@requires("data.import")
def import_suppressions(
    db: Database, contacts: Iterable[str], channels: Collection[str], source: str, *, by: Principal
) -> SuppressionReport:
    """Suppress the (already normalised) contacts on `channels`."""
    from crm.errors import InvalidInput

    unknown = [c for c in channels if c not in CHANNELS]
    if not channels or unknown:
        raise InvalidInput("--channels", f"name some of {', '.join(CHANNELS)}, separated by commas")
    contacts = list(contacts)
    suppress(db, contacts, channels, source)
    on_file: list[str] = []
    for first in range(0, len(contacts), IN_QUERY_CHUNK):
        chunk = contacts[first : first + IN_QUERY_CHUNK]
        emails, phones = [c for c in chunk if "@" in c], [c for c in chunk if "@" not in c]
        found = db.customers.find({"$or": [{"email": {"$in": emails}}, {"phone": {"$in": phones}}]}, {"customer_id": 1})
        on_file += [doc["customer_id"] for doc in found]
    changed = sum(opt_out(db, on_file, channel, f"suppression list {source}") for channel in sorted(channels))
    audit.record(by, "data.suppress", source, {"contacts": len(contacts), "channels": sorted(channels)}, db=db)
    return SuppressionReport(len(contacts), changed)


def suppress(db: Database, contacts: Collection[str], channels: Collection[str], source: str) -> None:
    """Keep the (normalised) contacts on the list for `channels`; the first source stays."""
    now = utc_now()
    ops = [
        UpdateOne(
            {"_id": contact},
            {"$addToSet": {"channels": {"$each": sorted(channels)}}, "$setOnInsert": {"source": source, "at": now}},
            upsert=True,
        )
        for contact in contacts
    ]
    for start in range(0, len(ops), IN_QUERY_CHUNK):
        db[SUPPRESSIONS].bulk_write(ops[start : start + IN_QUERY_CHUNK], ordered=False)


def suppressed_contacts(db: Database, channel: str) -> set[str]:
    """The contacts suppressed on `channel`, in their stored forms."""
    return {doc["_id"] for doc in db[SUPPRESSIONS].find({"channels": channel}, {"_id": 1})}
