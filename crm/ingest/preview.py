"""What a CSV import would do, without writing anything: the check the Data page shows first.

The same check `import_csv` runs before it writes (`check_csv`), kept small (no records) so
the page can cache it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crm.formats.indian_numbers import format_inr
from crm.ingest.attribute_registry import planned, registered
from crm.ingest.city_spellings import with_workspace_spellings
from crm.ingest.csv_import import FIRST_DATA_ROW, ImportReport, Source, check_csv, read_rows
from crm.ingest.reading import Reading
from crm.ingest.records import (
    CONSENT_COLUMNS,
    CustomerRecord,
    Kind,
    OrderRecord,
    Record,
    RowProblem,
    validate_records,
)
from crm.segment_engine.attributes import PREFIX as ATTRIBUTE_PREFIX
from crm.segment_engine.attributes import Attribute
from crm.store.documents import Database


@dataclass
class ImportPreview:
    report: ImportReport  # rows_read and rejected; nothing written
    valid_rows: int
    invalid_rows: int


def preview_import(
    db: Database,
    kind: Kind,
    source: Source,
    mapping: dict[str, str],
    reading: Reading = Reading(),
    new_attributes: Sequence[tuple[str, str]] = (),
) -> ImportPreview:
    """`new_attributes` (column heading, type): attributes the import would register."""
    pending = planned(db, new_attributes)
    checked = check_csv(db, kind, source, mapping, reading=reading, new_attributes=pending)
    return ImportPreview(report=checked.report, valid_rows=checked.valid_rows, invalid_rows=checked.invalid_rows)


def _shown(value: Any, reading: Reading) -> Any:
    if isinstance(value, datetime):
        if value == value.replace(hour=0, minute=0, second=0, microsecond=0):  # a date alone: that day
            return value.strftime("%Y-%m-%d")
        return value.astimezone(reading.time_zone).strftime(f"%Y-%m-%d %H:%M {reading.zone_name}")
    if isinstance(value, list):
        return ", ".join(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else value


def _as_stored(record: Record, fields: list[str], reading: Reading) -> dict[str, Any]:
    """The mapped fields of a valid record as they will be stored (dates shown in the workspace
    zone, amounts in rupees)."""
    shown: dict[str, Any] = {}
    for our_field in fields:
        if our_field in CONSENT_COLUMNS:
            shown[our_field] = getattr(record.consent, CONSENT_COLUMNS[our_field]) or ""  # type: ignore[union-attr]
        elif our_field == "amount" and isinstance(record, OrderRecord):
            shown["amount"] = format_inr(record.amount_paise)
        elif our_field.startswith(ATTRIBUTE_PREFIX) and isinstance(record, CustomerRecord):
            shown[our_field] = _shown(record.attributes.get(our_field.removeprefix(ATTRIBUTE_PREFIX)), reading)
        else:
            shown[our_field] = _shown(getattr(record, our_field), reading)
    return shown


def first_rows_as_stored(
    kind: Kind,
    source: Source,
    mapping: dict[str, str],
    reading: Reading,
    db: Database | None = None,
    limit: int = 10,
    new_attributes: Sequence[Attribute] = (),
) -> list[dict[str, Any]]:
    """The file's first rows as an import would store them, after every normal form (dates,
    rupees, genders, E.164 phones and, given the database, the workspace's city spellings), or
    the row's problem: what the user checks before writing."""
    fields = list(mapping.values())
    rows: list[dict[str, str] | RowProblem | None] = []
    with_cells = 0
    for cells in read_rows(source, mapping):
        rows.append(cells)  # blank lines too: they keep the numbering a spreadsheet shows
        with_cells += cells is not None
        if with_cells == limit:
            break
    attributes = (*registered(db), *new_attributes) if db is not None and kind == "customers" else ()
    result = validate_records(kind, rows, first_row=FIRST_DATA_ROW, reading=reading, attributes=attributes)
    problems: dict[int, list[str]] = {}
    for error in result.errors:
        problems.setdefault(error.row, []).append(f"{error.column}: {error.reason}")
    records = with_workspace_spellings(db, result.valid, register=False) if db is not None else result.valid
    valid = dict(zip(result.rows, records))
    shown = []
    for row, data in enumerate(rows, start=FIRST_DATA_ROW):
        if data is None:
            continue
        if row in valid:
            shown.append({"row": row, **_as_stored(valid[row], fields, reading), "problem": ""})
        else:
            shown.append({"row": row, "problem": "; ".join(problems.get(row, ["not read"]))})
    return shown
