"""The embedded server's one database user and its password, kept in the data dir.

The server runs with authentication on: a local process that finds its port (any user of the
machine can) reads nothing without this password. The password is made here, stored in
`mongo.auth` (0600, beside `mongo.json`, which records only the port and pids) and never logged.
SecantusDB creates its first user only while authentication is off, so `provision` starts a
short-lived server without it on a fresh loopback port, sets our user's password, checks that
no one else's user exists, and stops it; only then is the file written.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pymongo

from crm.errors import Unavailable
from crm.store.documents import Database

USER = "crm"
FILE_NAME = "mongo.auth"
# The server's code for a user name or password it refuses.
AUTHENTICATION_FAILED = 18


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str

    def __repr__(self) -> str:  # never the password, in a log line or a traceback
        return f"Credentials(user={self.user!r})"

    def uri(self, port: int, shown: bool = False) -> str:
        """The connection string; shown=True masks the password, for what a person reads."""
        password = "****" if shown else quote_plus(self.password)
        return f"mongodb://{quote_plus(self.user)}:{password}@127.0.0.1:{port}/?directConnection=true&authSource=admin"


def read(data_dir: Path) -> Credentials | None:
    try:
        record = json.loads((data_dir / FILE_NAME).read_text())
        return Credentials(user=record["user"], password=record["password"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def new() -> Credentials:
    return Credentials(user=USER, password=secrets.token_urlsafe(32))


def set_on_server(open_uri: str, credentials: Credentials) -> None:
    """Give our user this password on a server running without authentication (create or
    update), then refuse a server that holds any other user: someone else could read it."""
    client: pymongo.MongoClient[dict[str, Any]]
    with pymongo.MongoClient(open_uri, serverSelectionTimeoutMS=10_000) as client:
        admin: Database = client.admin
        known = admin.command("usersInfo", credentials.user)["users"]
        command = "updateUser" if known else "createUser"
        admin.command(command, credentials.user, pwd=credentials.password, roles=[{"role": "root", "db": "admin"}])
        users = admin.command("usersInfo", {"forAllDBs": True})["users"]
        others = sorted(f"{u['db']}.{u['user']}" for u in users if (u["db"], u["user"]) != ("admin", credentials.user))
        if others:
            raise Unavailable(
                f"the embedded database holds database users this app did not create ({', '.join(others)}); "
                "remove them (or move this data dir aside) and start again"
            )


def write(data_dir: Path, credentials: Credentials) -> None:
    """Atomically, 0600 from the first byte: a half-written file would lock the data out."""
    partial = data_dir / f"{FILE_NAME}.partial"
    with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        out.write(json.dumps({"user": credentials.user, "password": credentials.password}))
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, data_dir / FILE_NAME)


def forget(data_dir: Path) -> None:
    (data_dir / FILE_NAME).unlink(missing_ok=True)
