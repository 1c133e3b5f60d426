"""`python -m crm segment from-text "TEXT" [--as-of DATE] [--offline]`: a sentence -> rules JSON.

Registered into the `segment` command group. The rule goes to stdout; which engine answered and
what it did not understand go to stderr, so `> rules.json` captures a usable rule file.
"""

from __future__ import annotations

import json
import sys


def register(sub) -> None:
    from crm.commands.segment import subcommands

    parser = subcommands().add_parser("from-text", help="turn a description into a rule (JSON)")
    parser.add_argument("text", help='e.g. "spent over ₹5,000 and inactive for 3 months"')
    parser.add_argument("--as-of", metavar="DATE", help="the date 'today' means, YYYY-MM-DD (default: today, UTC)")
    parser.add_argument("--offline", action="store_true", help="use the offline parser even when Gemini is set up")
    parser.set_defaults(handler=from_text_command)


def from_text_command(args) -> int:
    from crm.ai import current_data_facts, propose_rule
    from crm.analytics.segment_preview import today_utc
    from crm.commands.segment import parse_as_of
    from crm.errors import InvalidInput

    today = parse_as_of(args.as_of) or today_utc()
    proposal = propose_rule(args.text, today, current_data_facts(), use_gemini=not args.offline)
    print(f"engine: {proposal.engine}", file=sys.stderr)
    for note in proposal.notes:
        print(f"note: {note}", file=sys.stderr)
    if proposal.rule is None:
        raise InvalidInput("text", 'found no condition in it; try e.g. "customers in Pune who spent over ₹5,000"')
    print(json.dumps(proposal.rule.to_json(), ensure_ascii=False, indent=2))
    return 0
