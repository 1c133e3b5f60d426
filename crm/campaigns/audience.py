"""A campaign's audience from the analytic copy, streamed in Arrow batches like `segment export`.

Who may be messaged on a channel: consent for it that is `yes` (an explicit `no` and an unknown
consent are excluded and counted apart; see `crm.ingest.consent`) and a contact address for it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from crm.analytics.audience_columns import COLUMNS, select_list
from crm.analytics.segment_preview import audience_query, parse
from crm.campaigns.channels import Channel
from crm.campaigns.templating import DERIVED, is_empty
from crm.ingest.consent import NO, YES

BATCH_ROWS = 10_000
NO_CONSENT, CONSENT_UNKNOWN, NO_CONTACT = "no_consent", "consent_unknown", "no_contact"
SUPPRESSED, FREQUENCY_CAP = "suppressed", "frequency_cap"
EXCLUSIONS = {
    NO_CONSENT: "refused consent for the channel",
    CONSENT_UNKNOWN: "consent for the channel unknown",
    NO_CONTACT: "no contact address for the channel",
    SUPPRESSED: "contact on a suppression list for the channel",
    FREQUENCY_CAP: "already had as many messages as the frequency cap allows",
}
# Always counted (0 included); the workspace rules' reasons only when they held someone back.
COUNTED = (NO_CONSENT, CONSENT_UNKNOWN, NO_CONTACT)


@dataclass(frozen=True)
class HeldBack:
    """Who the workspace's rules hold back whatever their consent: contacts on a suppression list
    (emails in lower case, phones in E.164) and customers at the frequency cap."""

    suppressed: Collection[str] = frozenset()
    capped: Collection[str] = frozenset()


NOBODY = HeldBack()


def columns_for(channel: Channel, fields: set[str] | frozenset[str]) -> list[str]:
    """Columns to read: id, name, the channel's contact and consent, and what templates print."""
    wanted = {
        "customer_id",
        "name",
        channel.contact_field,
        channel.consent_field,
        *(f for f in fields if f not in DERIVED),
    }
    return [c for c in COLUMNS if c in wanted]


def stream(
    rule: Any, as_of: date, columns: list[str], batch_rows: int = BATCH_ROWS, limit: int | None = None
) -> Iterator[list[dict[str, Any]]]:
    """The audience by customer_id, as lists of row dicts of `columns`."""
    from crm.analytics.analytic_copy import open_copy

    copy = open_copy()
    select, select_params = select_list(columns, as_of)
    sql, params = audience_query(parse(rule, copy.catalogue), as_of, select, select_params)
    sql += " ORDER BY f.customer_id"
    if limit is not None:
        sql += " LIMIT ?"
        params = [*params, int(limit)]
    reader = copy.cursor().sql(sql, params=params).to_arrow_reader(batch_rows)
    for batch in reader:
        yield batch.to_pylist()


def exclusion(row: dict[str, Any], channel: Channel, held: HeldBack = NOBODY) -> str | None:
    """Why this customer may not get a message on the channel, or None when they may."""
    consent = row.get(channel.consent_field)
    if consent != YES:
        return NO_CONSENT if consent == NO else CONSENT_UNKNOWN
    contact = row.get(channel.contact_field)
    if is_empty(contact):
        return NO_CONTACT
    if held.suppressed and str(contact).strip().lower() in held.suppressed:
        return SUPPRESSED
    if row["customer_id"] in held.capped:
        return FREQUENCY_CAP
    return None
