"""The one pymongo client of a process, on MONGODB_URI or the embedded server."""

from __future__ import annotations

import os
import threading

import pymongo
from pymongo.database import Database

from crm.config import Settings, load_settings
from crm.store.embedded import EmbeddedServer
from crm.store.schema import ensure_indexes

_lock = threading.Lock()
_state: dict = {}


def embedded_server(settings: Settings | None = None) -> EmbeddedServer:
    """The embedded server handle for this process and data dir (one per data dir)."""
    settings = settings or load_settings()
    key = ("server", str(settings.data_dir))
    with _lock:
        if key not in _state:
            _state[key] = EmbeddedServer(settings.data_dir)
        return _state[key]


def database_uri(settings: Settings | None = None) -> str:
    settings = settings or load_settings()
    if settings.mongodb_uri:
        return settings.mongodb_uri
    return embedded_server(settings).ensure().uri


def get_db(settings: Settings | None = None) -> Database:
    """The application database, ready to use (server up, indexes in place).

    Cached per process id as well as settings: a pymongo client must not cross a fork.
    """
    settings = settings or load_settings()
    key = ("db", os.getpid(), settings.mongodb_uri, str(settings.data_dir), settings.db_name)
    with _lock:
        db = _state.get(key)
    if db is not None:
        return db
    client = pymongo.MongoClient(database_uri(settings), tz_aware=True,
                                 serverSelectionTimeoutMS=10_000)
    db = client[settings.db_name]
    ensure_indexes(db)
    with _lock:
        _state[key] = db
    return db


def reset() -> None:
    """Forget cached clients (tests that switch data dirs or servers)."""
    with _lock:
        for key, value in list(_state.items()):
            if key[0] == "db":
                value.client.close()
        _state.clear()
