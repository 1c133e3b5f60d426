"""The one pymongo client of a process, on MONGODB_URI or the embedded server."""

from __future__ import annotations

import os
import threading
from typing import Any

import pymongo

from crm.config import Settings, load_settings
from crm.store.documents import Database
from crm.store.embedded import EmbeddedServer, ServerInfo
from crm.store.schema import ensure_indexes

_lock = threading.Lock()
_state: dict = {}


def embedded_server(settings: Settings | None = None) -> EmbeddedServer:
    """The embedded server handle for this process and data dir (one per data dir)."""
    settings = settings or load_settings()
    key = ("server", str(settings.data_dir))
    with _lock:
        if key not in _state:
            _state[key] = EmbeddedServer(settings.data_dir, wedged_seconds=settings.db_wedged_seconds)
        return _state[key]


def database_uri(settings: Settings | None = None, shown: bool = False) -> str:
    """The connection string; shown=True masks the embedded server's password, for printing."""
    settings = settings or load_settings()
    if settings.mongodb_uri:
        return settings.mongodb_uri
    info = embedded_server(settings).ensure()
    return info.shown_uri if shown else info.uri


def claim_database(settings: Settings | None = None) -> ServerInfo | None:
    """For `serve` and `api`: the embedded server, refusing (Conflict) one that another live
    process runs, since it would stop when that process does. None with MONGODB_URI."""
    settings = settings or load_settings()
    if settings.mongodb_uri:
        return None
    return embedded_server(settings).ensure(exclusive=True)


def get_db(settings: Settings | None = None) -> Database:
    """The application database, ready to use (server up, indexes in place).

    Cached per process id as well as settings: a pymongo client must not cross a fork. Requests
    wait at most CRM_DB_TIMEOUT_MS for a server, so a dead database answers fast. Should the
    embedded server come back on another port, the next call connects there.
    """
    settings = settings or load_settings()
    key = ("db", os.getpid(), settings.mongodb_uri, str(settings.data_dir), settings.db_name)
    with _lock:
        cached = _state.get(key)
    if cached is not None and (settings.mongodb_uri or _same_server(settings, cached[0])):
        return cached[1]
    timeout = settings.db_timeout_ms
    uri = database_uri(settings)
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        uri, tz_aware=True, serverSelectionTimeoutMS=timeout, connectTimeoutMS=timeout
    )
    db = client[settings.db_name]
    ensure_indexes(db)
    with _lock:
        previous = _state.get(key)
        _state[key] = (uri, db)
    if previous is not None:
        previous[1].client.close()
    return db


def _same_server(settings: Settings, uri: str) -> bool:
    """The record still names the server we are connected to (a missing record: it is restarting)."""
    info = embedded_server(settings).read_info()
    return info is None or info.uri == uri


def reset() -> None:
    """Forget cached clients (tests that switch data dirs or servers)."""
    with _lock:
        for key, value in list(_state.items()):
            if key[0] == "db":
                value[1].client.close()
        _state.clear()
