"""`python -m crm db status`: where the data lives and whether the database answers;
`python -m crm db migrate`: stored values brought to the forms imports store now."""

from __future__ import annotations

import json

from crm.config import load_settings


def register(sub) -> None:
    db = sub.add_parser("db", help="database status and migrations").add_subparsers(dest="db_command", required=True)
    status = db.add_parser("status", help="print the database location and collection sizes")
    status.set_defaults(handler=status_command)
    migrate = db.add_parser(
        "migrate",
        help="bring stored values to today's normal forms (genders, E.164 phones); once per workspace",
    )
    migrate.set_defaults(handler=migrate_command)


def status_command(args) -> int:
    from crm.store import database_uri, get_db

    settings = load_settings()
    db = get_db(settings)
    counts = {name: db[name].estimated_document_count() for name in sorted(db.list_collection_names())}
    print(
        json.dumps(
            {
                "embedded": settings.embedded,
                "uri": database_uri(settings, shown=True) if settings.embedded else "MONGODB_URI",
                "data_dir": str(settings.data_dir),
                "collections": counts,
            }
        )
    )
    return 0


def migrate_command(args) -> int:
    from crm.ingest.migrations import normalise_stored_customers
    from crm.store import get_db

    settings = load_settings()
    print(json.dumps(normalise_stored_customers(get_db(settings), settings.phone_region).as_dict()))
    return 0
