"""`python -m crm ...`: parses arguments and calls the core; errors become one line and exit 2.

Each command group lives in its own module under `crm/commands/` with a `register(subparsers)`
function; this file only lists them.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from crm.errors import CRMError

COMMAND_MODULES = [
    "crm.commands.db",
    "crm.commands.api",
    "crm.commands.demo",
    "crm.commands.serve",
    "crm.commands.importer",
    "crm.commands.customer",
    "crm.commands.bench",
    "crm.commands.segment",
    "crm.commands.ai",  # adds `segment from-text`
    "crm.commands.campaign",
    "crm.commands.scheduler",
    "crm.commands.user",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m crm", description="Mini CRM command line")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()  # reads the settings for the options' defaults
        # A command that reads its own options once it runs (a benchmark) takes what is left over.
        args, left_over = parser.parse_known_args(argv)
        if left_over and not getattr(args, "reads_own_options", False):
            parser.error(f"unrecognized arguments: {' '.join(left_over)}")
        args.left_over = left_over
        return args.handler(args) or 0
    except CRMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file the core could not write (a read-only data dir, a full disk)
        print(f"error: {_file_problem(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _file_problem(exc: OSError) -> str:
    what = f"cannot use {exc.filename}: " if exc.filename else ""
    return (
        f"{what}{exc.strerror or exc}; check that CRM_DATA_DIR is a folder this user may write "
        "and that its disk has room"
    )
