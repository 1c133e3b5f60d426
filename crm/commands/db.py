"""`python -m crm db status`: where the data lives and whether the database answers."""

from __future__ import annotations

import json

from crm.config import load_settings


def register(sub) -> None:
    db = sub.add_parser("db", help="database status").add_subparsers(dest="db_command", required=True)
    status = db.add_parser("status", help="print the database location and collection sizes")
    status.set_defaults(handler=status_command)


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
