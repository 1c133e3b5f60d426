"""CSV files in: map columns onto our fields, validate every row, then write (or refuse).

Row numbers are the ones a spreadsheet shows: the header is row 1, the first data row is
row 2. Error reports and rejected-row files use that numbering everywhere.

Strict by default: one invalid row and nothing is written. With `skip_invalid`, valid rows are
written and the others come back (and optionally go to a CSV) with the reason.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Generator, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from crm.auth import audit
from crm.auth.permissions import Principal, requires
from crm.errors import InvalidInput
from crm.formats.csv_safety import restore, safe_writer
from crm.ingest.attribute_registry import planned, register_attribute, registered
from crm.ingest.consent import ConsentSource, describe_declared
from crm.ingest.reading import Reading
from crm.ingest.records import (
    INPUT_FIELDS,
    REQUIRED_FIELDS,
    Kind,
    Record,
    RowError,
    RowProblem,
    check_customers_exist,
    validate_records,
)
from crm.ingest.writer import Progress, write_records
from crm.segment_engine.attributes import PREFIX as ATTRIBUTE_PREFIX
from crm.segment_engine.attributes import Attribute
from crm.store.clock import utc_now
from crm.store.documents import Database

FIRST_DATA_ROW = 2  # the header is row 1
Source = str | Path | IO[bytes] | IO[str]  # a path, or an open file (e.g. an upload) read from its start

# Other names real exports use for our fields, compared without case, spaces, `_`, `-` or `.`.
# Our own field name always wins over a synonym.
SYNONYMS: dict[str, dict[str, list[str]]] = {
    "customers": {
        "customer_id": ["customerid", "custid", "clientid", "customerno", "customernumber", "customercode", "id"],
        "name": ["fullname", "customername", "clientname", "customer"],
        "email": ["emailaddress", "mail", "emailid"],
        "phone": [
            "mobile",
            "phonenumber",
            "mobilenumber",
            "mobileno",
            "phoneno",
            "contact",
            "contactnumber",
            "telephone",
            "tel",
            "cell",
        ],
        "city": ["town", "location"],
        "gender": ["sex"],
        "age": ["ageyears"],
        "signup_date": [
            "signup",
            "signedup",
            "signupat",
            "joined",
            "joindate",
            "joinedat",
            "registrationdate",
            "registeredat",
            "created",
            "createdat",
            "createddate",
            "date",
        ],
        "tags": ["tag", "labels", "label", "segments"],
        # Shopify's "Accepts Email Marketing" / "Email Marketing Status", and the usual opt-in names.
        "consent_email": [
            "acceptsemailmarketing",
            "emailmarketingstatus",
            "emailmarketingconsent",
            "acceptsmarketing",
            "emailconsent",
            "emailoptin",
            "emailsubscribed",
            "newsletteroptin",
        ],
        "consent_sms": [
            "acceptssmsmarketing",
            "smsmarketingstatus",
            "smsmarketingconsent",
            "smsconsent",
            "smsoptin",
            "smssubscribed",
        ],
        "consent_whatsapp": [
            "acceptswhatsappmarketing",
            "whatsappmarketingstatus",
            "whatsappconsent",
            "whatsappoptin",
            "whatsappsubscribed",
        ],
    },
    "orders": {
        "order_id": ["orderid", "orderno", "ordernumber", "invoiceid", "invoiceno", "transactionid", "id"],
        "customer_id": ["customerid", "custid", "clientid", "customerno", "customer"],
        "amount": [
            "total",
            "totalamount",
            "ordertotal",
            "amountinr",
            "amountrs",
            "price",
            "value",
            "ordervalue",
            "revenue",
            "grandtotal",
        ],
        "status": ["orderstatus", "state"],
        "order_date": [
            "orderdate",
            "date",
            "orderedat",
            "purchasedate",
            "purchasedat",
            "created",
            "createdat",
            "timestamp",
        ],
    },
}


@dataclass
class ImportReport:
    kind: str
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RowError] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Counts only (the CLI's JSON line)."""
        return {
            "kind": self.kind,
            "rows_read": self.rows_read,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected_rows": len({error.row for error in self.rejected}),
        }


class ImportRejected(InvalidInput):
    """A strict import found invalid rows and wrote nothing; `report.rejected` lists them."""

    def __init__(self, location: str, report: ImportReport):
        rows = len({error.row for error in report.rejected})
        first = report.rejected[0]
        super().__init__(
            location,
            f"{rows} of {report.rows_read} rows are invalid, nothing was imported "
            f"(first: row {first.row}, {first.column}: {first.reason})",
        )
        self.report = report


def _normalise(name: str) -> str:
    return re.sub(r"[\s_\-.]+", "", name).lower()


def suggest_mapping(kind: Kind, header: list[str], attributes: Sequence[Attribute] = ()) -> dict[str, str]:
    """Source column -> our field, for the columns we recognise (registered attributes too,
    by their label or key)."""
    by_name: dict[str, str] = {}
    for name in header:
        by_name.setdefault(_normalise(name), name)
    mapping: dict[str, str] = {}
    for our_field in INPUT_FIELDS[kind]:  # own names first, so "date" never beats "order_date"
        column = by_name.get(_normalise(our_field))
        if column is not None and column not in mapping:
            mapping[column] = our_field
    mapped = set(mapping.values())
    for our_field, names in SYNONYMS[kind].items():
        if our_field in mapped:
            continue
        for name in names:
            column = by_name.get(name)
            if column is not None and column not in mapping:
                mapping[column] = our_field
                mapped.add(our_field)
                break
    if kind == "customers":
        for attribute in attributes:
            column = by_name.get(_normalise(attribute.label)) or by_name.get(_normalise(attribute.key))
            if column is not None and column not in mapping:
                mapping[column] = attribute.name
    return mapping


def _text_stream(source: Source) -> IO[str]:
    if isinstance(source, (str, Path)):
        try:
            return open(source, encoding="utf-8-sig", newline="")
        except OSError as exc:
            raise InvalidInput(str(source), f"cannot open the file: {exc.strerror}") from None
    if hasattr(source, "seek"):
        source.seek(0)
    if isinstance(source, io.TextIOBase):
        return source
    return io.TextIOWrapper(cast(IO[bytes], source), encoding="utf-8-sig", newline="")


def _source_name(source: Source) -> str:
    return str(source) if isinstance(source, (str, Path)) else getattr(source, "name", None) or "the CSV file"


def _table(source: Source) -> Generator[list[str]]:
    """Header, then data rows, as lists of strings; decoding and CSV errors name the row."""
    name = _source_name(source)
    stream = _text_stream(source)
    reader = csv.reader(stream)
    try:
        yield from reader
    except UnicodeDecodeError:
        raise InvalidInput(
            name, f"the file is not UTF-8 text (near row {reader.line_num + 1}); save it as CSV UTF-8"
        ) from None
    except csv.Error as exc:
        raise InvalidInput(name, f"row {reader.line_num}: {exc}") from None
    finally:
        if isinstance(source, (str, Path)):
            stream.close()
        elif isinstance(stream, io.TextIOWrapper) and stream is not source:
            stream.detach()  # leave the caller's file open


def read_header(source: Source) -> list[str]:
    rows = _table(source)
    try:
        header = next(rows, None)
    finally:
        rows.close()
    if not header or not any(cell.strip() for cell in header):
        raise InvalidInput(_source_name(source), "the file is empty: the first row must name the columns")
    header[0] = header[0].lstrip("\ufeff")  # a BOM left in by a text stream
    return [cell.strip() for cell in header]


def check_mapping(kind: Kind, header: list[str], mapping: dict[str, str], attributes: Sequence[Attribute] = ()) -> None:
    """Every mapped column exists, every target is a field (or a registered attribute), and the
    required fields are covered."""
    fields = [*INPUT_FIELDS[kind], *(a.name for a in attributes if kind == "customers")]
    targets: dict[str, str] = {}
    for column, our_field in mapping.items():
        if column not in header:
            raise InvalidInput("mapping", f"column {column!r} is not in the file (columns: {', '.join(header)})")
        if header.count(column) > 1:
            raise InvalidInput("mapping", f"the file has more than one column named {column!r}")
        if our_field not in fields:
            raise InvalidInput("mapping", f"{our_field!r} is not a field of {kind} (fields: {', '.join(fields)})")
        if our_field in targets:
            raise InvalidInput(
                "mapping", f"columns {targets[our_field]!r} and {column!r} are both mapped to {our_field}"
            )
        targets[our_field] = column
    missing = [name for name in REQUIRED_FIELDS[kind] if name not in targets]
    if missing:
        raise InvalidInput(
            "mapping",
            f"required column {', '.join(missing)} is missing: map one of the file's "
            f"columns ({', '.join(header)}) to it",
        )


def read_rows(
    source: Source, mapping: dict[str, str], kind: Kind | None = None
) -> Iterator[dict[str, str] | RowProblem | None]:
    """The data rows as {our field: cell text}; only mapped columns are read, nothing is coerced.

    With `kind`, the mapping is checked first (a missing required column is an InvalidInput).
    A row with a different number of cells than the header comes back as a RowProblem, a blank
    line as None (so that every later row keeps its number).
    """
    header = read_header(source)
    if kind is not None:
        check_mapping(kind, header, mapping)
    positions = [(our_field, header.index(column)) for column, our_field in mapping.items()]
    width = len(header)
    rows = _table(source)
    next(rows)
    for cells in rows:
        if len(cells) != width:
            if not any(cell.strip() for cell in cells):
                yield None  # a blank line: skipped, but it keeps its row number
                continue
            yield RowProblem("", f"the row has {len(cells)} cells, the header has {width}")
            continue
        yield {our_field: restore(cells[index]) for our_field, index in positions}


def errors_to_csv(errors: list[RowError], source: Source | None = None) -> str:
    """Errors as CSV text (row, column, reason); `row` counts the header as row 1.

    With `source`, one line per rejected row: its original cells, then row, column and reason
    (several problems of one row are joined with "; "), ready to fix and import again.
    """
    out = io.StringIO()
    writer = safe_writer(out)
    if source is None:
        writer.writerow(["row", "column", "reason"])
        writer.writerows([error.row, error.column, error.reason] for error in errors)
        return out.getvalue()
    by_row: dict[int, list[RowError]] = {}
    for error in errors:
        by_row.setdefault(error.row, []).append(error)
    header = read_header(source)
    writer.writerow([*header, "row", "column", "reason"])
    for row, cells in enumerate(_table(source), start=FIRST_DATA_ROW - 1):
        if row in by_row:
            problems = by_row[row]
            writer.writerow([*cells, row, "; ".join(p.column for p in problems), "; ".join(p.reason for p in problems)])
    return out.getvalue()


def _column_of(location: str, columns: dict[str, str]) -> str:
    """An error's field location -> the file's column name ("consent.sms" -> consent_sms's column)."""
    if location.startswith("attributes."):
        our_field = ATTRIBUTE_PREFIX + location.removeprefix("attributes.")
    else:
        our_field = location.replace(".", "_", 1) if location.startswith("consent.") else location
    return columns.get(our_field, location)


@dataclass
class CheckedFile:
    """A file validated whole, nothing written yet: what an import would write and refuse."""

    report: ImportReport  # rows_read and rejected
    valid: list[Record]
    rows: list[int]  # source row of each valid record

    @property
    def valid_rows(self) -> int:
        return len(self.valid)

    @property
    def invalid_rows(self) -> int:
        return len({error.row for error in self.report.rejected})


def check_csv(
    db: Database,
    kind: Kind,
    source: Source,
    mapping: dict[str, str] | None = None,
    *,
    reading: Reading = Reading(),
    new_attributes: Sequence[Attribute] = (),
) -> CheckedFile:
    """Mapping check, row validation and unknown customers: every reason an import refuses a row.
    `reading` is how the file's dates and phones are read (see `crm.ingest.reading`);
    `new_attributes` are attributes the import will register, checked as if they were."""
    header = read_header(source)
    attributes = _merged(registered(db), new_attributes) if kind == "customers" else ()
    mapping = mapping if mapping is not None else suggest_mapping(kind, header, attributes)
    check_mapping(kind, header, mapping, attributes)
    cells = read_rows(source, mapping)
    result = validate_records(kind, cells, first_row=FIRST_DATA_ROW, reading=reading, attributes=attributes)
    columns = {our_field: column for column, our_field in mapping.items()}
    errors = result.errors
    valid, rows = result.valid, result.rows
    if kind == "orders" and valid:
        unknown = check_customers_exist(db, valid, rows)
        if unknown:
            errors = errors + unknown
            bad_rows = {error.row for error in unknown}
            kept = [(record, row) for record, row in zip(valid, rows) if row not in bad_rows]
            valid, rows = [record for record, _ in kept], [row for _, row in kept]
    report = ImportReport(kind=kind, rows_read=result.rows_seen)
    report.rejected = sorted(
        (RowError(e.row, _column_of(e.column, columns), e.reason) for e in errors), key=lambda error: error.row
    )
    return CheckedFile(report=report, valid=valid, rows=rows)


def _merged(known: Sequence[Attribute], new: Sequence[Attribute]) -> tuple[Attribute, ...]:
    keys = {a.key for a in known}
    return (*known, *(a for a in new if a.key not in keys))


@requires("data.import")
def import_csv(
    db: Database,
    kind: Kind,
    source: Source,
    mapping: dict[str, str] | None = None,
    skip_invalid: bool = False,
    rejected_path: str | Path | None = None,
    progress: Progress | None = None,
    *,
    by: Principal,
    consent: frozenset[str] | None = None,
    file_name: str | None = None,
    reading: Reading = Reading(),
    new_attributes: Sequence[tuple[str, str]] = (),
) -> ImportReport:
    """Validate the whole file, then write it (strict) or its valid rows (`skip_invalid`).

    `consent` declares what every customer of the file agreed to (channels; empty: nothing),
    for the channels the file's own consent columns leave unsaid; None: not declared.
    `file_name` names an uploaded file in the consent source and the audit log; `reading` says
    how its dates and phones are read. `new_attributes` (column heading, kind) are custom
    attributes to keep: registered when the import writes, not before.
    """
    name = file_name or Path(_source_name(source)).name
    if new_attributes and kind != "customers":
        raise InvalidInput("attribute", "custom attributes belong to customers: import the customers file with them")
    pending = planned(db, new_attributes)
    checked = check_csv(db, kind, source, mapping, reading=reading, new_attributes=pending)
    report = checked.report
    if rejected_path is not None and report.rejected:
        Path(rejected_path).write_text(errors_to_csv(report.rejected, source), encoding="utf-8")
    if report.rejected and not skip_invalid:
        raise ImportRejected(_source_name(source), report)
    for attribute in pending:
        register_attribute(db, attribute.label, attribute.kind, by=by)
    origin = ConsentSource(f"file {name} (imported by {by.username})", utc_now(), consent)
    written = write_records(db, kind, checked.valid, progress=progress, origin=origin)
    report.inserted, report.updated, report.unchanged = written.inserted, written.updated, written.unchanged
    audit.record(
        by, f"data.import.{kind}", name, {**report.summary(), "consent_declared": describe_declared(consent)}, db=db
    )
    return report


def report_as_dict(report: ImportReport) -> dict[str, Any]:
    return {**report.summary(), "rejected": [asdict(error) for error in report.rejected]}
