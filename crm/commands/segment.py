"""`python -m crm segment count|export|describe RULES.json`: audiences from the command line.

Other command modules add their own `segment` subcommands through `subcommands()` (registered
after this one in COMMAND_MODULES).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from crm.errors import InvalidInput

_subparsers = None


def subcommands():
    """The `segment` subparsers, for modules that add subcommands of their own."""
    if _subparsers is None:
        raise RuntimeError("crm.commands.segment must be registered first")
    return _subparsers


def register(sub) -> None:
    global _subparsers
    parser = sub.add_parser("segment", help="count, export and describe segment audiences")
    _subparsers = parser.add_subparsers(dest="segment_command", required=True, metavar="ACTION")

    count = _subparsers.add_parser("count", help="print the audience size (last line: the count)")
    _rule_arguments(count)
    count.set_defaults(handler=count_command)

    export = _subparsers.add_parser("export", help="write the audience to a CSV file")
    _rule_arguments(export)
    export.add_argument("-o", "--output", required=True, metavar="OUT.csv", help="CSV file to write")
    export.add_argument(
        "--columns", metavar="A,B,...", help="comma-separated columns (default: all); see `segment export --help`"
    )
    export.set_defaults(handler=export_command)

    describe = _subparsers.add_parser("describe", help="print the rule in plain English")
    describe.add_argument("rules", metavar="RULES.json", help="segment rule file (JSON)")
    describe.set_defaults(handler=describe_command)


def _rule_arguments(parser) -> None:
    parser.add_argument("rules", metavar="RULES.json", help="segment rule file (JSON)")
    parser.add_argument("--as-of", metavar="DATE", help="evaluation date YYYY-MM-DD (default: today, UTC)")


def read_rule(path_text: str):
    """The parsed rule in a JSON file; errors name the file (and line) and what is wrong."""
    from crm.segment_engine import parse_rule
    from crm.segment_engine.model import TOO_DEEP

    path = Path(path_text)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(path_text, "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(path_text, f"cannot read the file ({exc})") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path_text} line {exc.lineno} column {exc.colno}", f"not valid JSON: {exc.msg}") from None
    except RecursionError:  # nested thousands deep: too deep for the decoder, let alone for us
        raise InvalidInput(path_text, TOO_DEEP) from None
    from crm.ingest.attribute_registry import workspace_catalogue
    from crm.store import get_db

    try:
        return parse_rule(raw, workspace_catalogue(get_db()))
    except InvalidInput as exc:
        raise InvalidInput(f"{path_text}: {exc.location}", exc.message) from None


def parse_as_of(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput("--as-of", f"expected a date like 2024-03-01, got {text!r}") from None


def count_command(args) -> int:
    from crm.analytics.segment_preview import count

    group = read_rule(args.rules)
    print(count(group, parse_as_of(args.as_of)))
    return 0


def export_command(args) -> int:
    from crm.analytics.export import export_csv
    from crm.auth import CLI
    from crm.store import get_db

    group = read_rule(args.rules)
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    written = export_csv(
        group,
        Path(args.output),
        as_of=parse_as_of(args.as_of),
        columns=columns,
        progress=True,
        by=CLI,
        segment=Path(args.rules).name,
        db=get_db(),
    )
    print(f"wrote {written} customers to {args.output}")
    return 0


def describe_command(args) -> int:
    from crm.segment_engine import describe_rule

    print(describe_rule(read_rule(args.rules)))
    return 0
