"""`python -m crm import customers|orders|suppressions FILE.csv`: validate a CSV file and load it."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from crm.errors import InvalidInput
from crm.ingest.reading import DATE_FORMATS

if TYPE_CHECKING:
    from collections.abc import Sequence

    from crm.ingest.reading import DateFormat
    from crm.ingest.records import Kind
    from crm.segment_engine.attributes import Attribute

MAX_ERRORS_SHOWN = 20


def register(sub) -> None:
    parser = sub.add_parser(
        "import",
        help="import customers or orders from a CSV file",
        description="Strict by default: one invalid row and nothing is written. "
        "Rows are numbered as a spreadsheet shows them (header = row 1).",
    )
    parser.add_argument(
        "kind",
        choices=["customers", "orders", "suppressions"],
        help="suppressions: a CSV of emails or phone numbers never to message on --channels",
    )
    parser.add_argument(
        "--channels",
        metavar="CHANNELS",
        help="suppressions only: the channels the list holds them back on, e.g. sms,whatsapp",
    )
    parser.add_argument("file", help="CSV file, UTF-8, first row names the columns")
    parser.add_argument("--skip-invalid", action="store_true", help="write the valid rows, report the others")
    parser.add_argument("--rejected", metavar="OUT.csv", help="write rejected rows with their reasons here")
    parser.add_argument(
        "--consent",
        metavar="CHANNELS",
        help="what every customer of the file agreed to be contacted by, for files without "
        "consent columns (or where a cell is empty): sms,email,whatsapp (any of them) or "
        "'none'; recorded as the consent's source. Without it, consent the file does not "
        "give stays unknown and unknown is never messaged. An explicit 'no' is never "
        "overridden",
    )
    parser.add_argument(
        "--map",
        metavar="COLUMN=FIELD",
        action="append",
        default=[],
        help="read the file's COLUMN as our FIELD (repeatable); "
        "other columns are matched by name; FIELD '-' ignores a column",
    )
    parser.add_argument(
        "--attribute",
        metavar="COLUMN=TYPE",
        action="append",
        default=[],
        help="keep the file's COLUMN as a custom attribute of TYPE text, number, date, yes/no or list "
        '(repeatable), e.g. "Loyalty Tier=text"; registered once for the workspace, then segment on '
        "it as attr.loyalty_tier. Later files' columns of that name are read as it",
    )
    parser.add_argument(
        "--date-format",
        choices=DATE_FORMATS,
        help="how the file writes dates that are not ISO 8601 (also with - or . between the parts, "
        "and an optional time such as 10:30 or 10:30 pm); without it, the date columns' values "
        "decide where they can (a day above 12) and the import stops where they cannot. ISO 8601 "
        "is always read. Dates without an offset are in CRM_TIME_ZONE (Asia/Kolkata unless set)",
    )
    parser.set_defaults(handler=import_command)


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        column, sep, our_field = pair.partition("=")
        if not sep or not column.strip() or not our_field.strip():
            raise InvalidInput("--map", f'{pair!r} should look like COLUMN=FIELD, e.g. "Cust No=customer_id"')
        overrides[column.strip()] = our_field.strip()
    return overrides


def attribute_columns(header: list[str], specs: list[tuple[str, str]]) -> dict[str, str]:
    """Column -> attr.<key> for each --attribute; its column must be in the file."""
    from crm.segment_engine.attributes import PREFIX, key_for

    columns = {}
    for label, _ in specs:
        if label not in header:
            raise InvalidInput("--attribute", f"the file has no column {label!r} (columns: {', '.join(header)})")
        columns[label] = PREFIX + key_for(label)
    return columns


def build_mapping(
    kind: Kind, header: list[str], overrides: dict[str, str], attributes: Sequence[Attribute] = ()
) -> dict[str, str]:
    """Suggested mapping with the user's choices on top (a field taken by an override moves)."""
    from crm.ingest.csv_import import suggest_mapping

    chosen = {column: our_field for column, our_field in overrides.items() if our_field != "-"}
    mapping = {
        column: our_field
        for column, our_field in suggest_mapping(kind, header, attributes).items()
        if column not in overrides and our_field not in chosen.values()
    }
    return {**mapping, **chosen}


def suppress_command(args) -> int:
    from pathlib import Path

    from crm.auth import CLI
    from crm.config import load_settings
    from crm.ingest.suppressions import import_suppressions, read_contacts
    from crm.store import get_db

    if not args.channels:
        raise InvalidInput("--channels", "name the channels to suppress the contacts on, e.g. --channels sms,whatsapp")
    for flag, given in (
        ("--consent", args.consent),
        ("--skip-invalid", args.skip_invalid),
        ("--rejected", args.rejected),
    ):
        if given:
            raise InvalidInput(flag, "is for customers and orders: a suppression list is taken whole or not at all")
    channels = [c.strip().lower() for c in args.channels.split(",") if c.strip()]
    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput("file", f"cannot read {args.file}: {exc}") from None
    contacts = read_contacts(text, load_settings().phone_region)
    report = import_suppressions(get_db(), contacts, channels, f"file {Path(args.file).name}", by=CLI)
    print(json.dumps({"suppressed": report.contacts, "channels": sorted(channels), "opted_out": report.opted_out}))
    return 0


def import_command(args) -> int:
    if args.kind == "suppressions":
        return suppress_command(args)
    if args.channels:
        raise InvalidInput("--channels", "is for suppression lists only: import suppressions FILE --channels sms")
    from tqdm import tqdm

    from crm.auth import CLI
    from crm.config import load_settings
    from crm.ingest.attribute_registry import parse_spec, planned, registered
    from crm.ingest.consent import parse_declared
    from crm.ingest.csv_import import ImportRejected, import_csv, read_header
    from crm.ingest.migrations import normalise_stored_customers
    from crm.ingest.reading import workspace_reading
    from crm.store import get_db

    declared = parse_declared(args.consent)
    if declared is not None and args.kind != "customers":
        raise InvalidInput("--consent", "consent belongs to customers: import the customers file with it")
    db = get_db()
    header = read_header(args.file)
    specs = [parse_spec(text) for text in args.attribute]
    overrides = {**parse_overrides(args.map), **attribute_columns(header, specs)}
    mapping = build_mapping(args.kind, header, overrides, registered(db))
    dated = [a.name for a in (*registered(db), *planned(db, specs)) if a.kind == "date"]
    reading = workspace_reading(load_settings(), args.date_format or file_date_format(args.file, mapping, dated))
    normalise_stored_customers(db, load_settings().phone_region)  # once: earlier data in today's forms
    bar = tqdm(total=0, unit="rows", desc=f"writing {args.kind}", file=sys.stderr, disable=None)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    print(f"validating {args.file} ...", file=sys.stderr)
    print(reading.describe(), file=sys.stderr)
    try:
        report = import_csv(
            db,
            args.kind,
            args.file,
            mapping=mapping,
            skip_invalid=args.skip_invalid,
            rejected_path=args.rejected,
            progress=progress,
            by=CLI,
            consent=declared,
            reading=reading,
            new_attributes=specs,
        )
    except ImportRejected as exc:
        _print_errors(exc.report.rejected)
        raise
    finally:
        bar.close()
    if report.rejected:
        _print_errors(report.rejected)
    print(json.dumps({**report.summary(), "rejected_file": args.rejected if report.rejected else None}))
    return 0


def file_date_format(file: str, mapping: dict[str, str], date_attributes: Sequence[str] = ()) -> DateFormat | None:
    """The format the file's date columns decide, said on stderr; an InvalidInput naming the
    column when they cannot decide (we never guess between day first and month first)."""
    from crm.ingest.date_columns import detect_file_dates

    found = detect_file_dates(file, mapping, date_attributes)
    if found.ambiguous:
        raise InvalidInput("--date-format", f"{found.explain()}. Pass --date-format DD/MM/YYYY or MM/DD/YYYY")
    if found.date_format:
        print(f"date format {found.date_format}, detected: {found.explain()}", file=sys.stderr)
    return found.date_format


def _print_errors(errors) -> None:
    for error in errors[:MAX_ERRORS_SHOWN]:
        print(f"row {error.row}, {error.column or 'row'}: {error.reason}", file=sys.stderr)
    if len(errors) > MAX_ERRORS_SHOWN:
        print(f"... {len(errors)} problems in total", file=sys.stderr)
    else:
        print(f"{len(errors)} problem(s) in total", file=sys.stderr)
