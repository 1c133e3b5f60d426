"""Demo data for page tests, loaded through `load_demo` once per spec and process, then copied.

Each test keeps its own database; copying the documents the first load wrote takes a third of
the time of validating and writing them again.
"""

from __future__ import annotations

from pymongo.database import Database

from crm.auth import CLI
from crm.demo import DemoSpec, load_demo

_loaded: dict[DemoSpec, dict[str, list[dict]]] = {}


def demo_data(db: Database, spec: DemoSpec) -> None:
    """The database holds exactly what `load_demo(db, spec)` writes into an empty one."""
    documents = _loaded.get(spec)
    if documents is None:
        load_demo(db, spec, by=CLI)
        _loaded[spec] = {name: list(db[name].find()) for name in db.list_collection_names()}
        return
    for name, docs in documents.items():
        if docs:
            db[name].insert_many([dict(doc) for doc in docs])
