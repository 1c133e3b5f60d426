"""`python -m crm customer erase CUSTOMER_ID`: erase a customer on their request."""

from __future__ import annotations

import json


def register(sub) -> None:
    parser = sub.add_parser("customer", help="act on one customer")
    actions = parser.add_subparsers(dest="customer_command", required=True, metavar="ACTION")
    erase = actions.add_parser(
        "erase",
        help="erase a customer and their orders for good",
        description="Removes the customer and their orders from the database and the "
        "analytic copy; messages sent to them keep a tombstone row so "
        "campaign counts stay exact. Prints a JSON summary; an unknown or "
        "already erased customer exits with status 2.",
    )
    erase.add_argument("customer_id", metavar="CUSTOMER_ID")
    erase.set_defaults(handler=erase_command)


def erase_command(args) -> int:
    from crm.auth import CLI
    from crm.ingest.erasure import erase_customer
    from crm.store import get_db

    print(json.dumps(erase_customer(get_db(), args.customer_id, by=CLI).summary()))
    return 0
