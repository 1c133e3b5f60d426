"""The embedded MongoDB-compatible server (SecantusDB), shared by every process on a data dir.

The first process that needs the database starts the server (through `supervise`, which stops
it when this owner exits) and records its port and pids in `mongo.json`. Later processes on the
same data dir read that file and reuse the running server instead of opening the same files
twice. An flock on `mongo.lock` makes "check, then start" atomic across processes; a record
whose server no longer answers (a crash) is stale and replaced.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pymongo
from pymongo.errors import PyMongoError

from crm.errors import Unavailable

START_TIMEOUT_SECONDS = 60
# The server listens on 127.0.0.1 without authentication, so what reaches it must stay the
# owner's: its record (the port), lock and log files 0600, its storage folder 0700.
PRIVATE_FILE, PRIVATE_DIR = 0o600, 0o700


def _make_private(folder: Path) -> None:
    """The data dir, the storage folder and what an earlier version left there: the owner's only."""
    folder.parent.chmod(PRIVATE_DIR)
    folder.chmod(PRIVATE_DIR)
    for path in folder.rglob("*"):
        path.chmod(PRIVATE_DIR if path.is_dir() else PRIVATE_FILE)
    for name in ("mongo.json", "mongo.log", "mongo.lock"):
        existing = folder.parent / name
        if existing.exists():
            existing.chmod(PRIVATE_FILE)


@dataclass
class ServerInfo:
    port: int
    server_pid: int
    owner_pid: int

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pings(uri: str, timeout_ms: int = 500) -> bool:
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms)
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


class EmbeddedServer:
    """Finds or starts the server for one data dir."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.storage = data_dir / "mongo"
        self.info_file = data_dir / "mongo.json"
        self.lock_file = data_dir / "mongo.lock"
        self._supervisor: subprocess.Popen | None = None

    def read_info(self) -> ServerInfo | None:
        try:
            return ServerInfo(**json.loads(self.info_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def _running(self) -> ServerInfo | None:
        info = self.read_info()
        if info and _pid_alive(info.server_pid) and _pings(info.uri):
            return info
        return None

    def ensure(self) -> ServerInfo:
        """Return a running server for this data dir, starting one if none answers."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(os.open(self.lock_file, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            info = self._running()
            if info:
                return info
            return self._start()

    def _start(self) -> ServerInfo:
        stale = self.read_info()
        if stale and _pid_alive(stale.server_pid):
            # A server from a crashed owner that no longer answers: it still holds the files.
            os.kill(stale.server_pid, 9)
            _wait_until(lambda: not _pid_alive(stale.server_pid), 10)
        self.info_file.unlink(missing_ok=True)
        self.storage.mkdir(parents=True, exist_ok=True)
        _make_private(self.storage)
        port = _free_port()
        log = open(os.open(self.data_dir / "mongo.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE), "ab")
        self._supervisor = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("supervise.py")), str(port), str(self.storage)],
            stdin=subprocess.PIPE, stdout=log, stderr=log,
            cwd=str(self.data_dir),  # the server auto-discovers ./secantusd.toml: not ours
            start_new_session=True,  # Ctrl-C in a terminal reaches us; we stop it in order
            umask=0o077,  # the database files it creates are the owner's alone
        )
        info = ServerInfo(port=port, server_pid=0, owner_pid=os.getpid())
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not _pings(info.uri, 300):
            if self._supervisor.poll() is not None or time.monotonic() > deadline:
                raise Unavailable(
                    f"the embedded database did not start; see {self.data_dir / 'mongo.log'}")
            time.sleep(0.1)
        info.server_pid = _server_pid(self._supervisor.pid) or self._supervisor.pid
        with open(os.open(self.info_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE), "w") as record:
            record.write(json.dumps(info.__dict__))
        atexit.register(self.stop)
        return info

    def stop(self) -> None:
        """Stop the server if this process started it (others only ever reuse it)."""
        sup, self._supervisor = self._supervisor, None
        if sup is None or sup.poll() is not None:
            return
        sup.stdin.close()  # EOF tells the supervisor to stop the server
        try:
            sup.wait(30)
        except subprocess.TimeoutExpired:
            sup.kill()
            sup.wait()
        info = self.read_info()
        if info and info.owner_pid == os.getpid():
            self.info_file.unlink(missing_ok=True)

    @property
    def owned(self) -> bool:
        return self._supervisor is not None and self._supervisor.poll() is None


def _server_pid(supervisor_pid: int) -> int | None:
    """The server's own pid: the supervisor's only child."""
    try:
        children = Path(f"/proc/{supervisor_pid}/task/{supervisor_pid}/children").read_text().split()
        return int(children[0]) if children else None
    except OSError:
        return None


def _wait_until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()
