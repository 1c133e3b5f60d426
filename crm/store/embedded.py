"""The embedded MongoDB-compatible server (SecantusDB), shared by every process on a data dir.

The first process that needs the database starts the server (through `supervise`, which stops
it when this owner exits) and records its port and pids in `mongo.json`. Later processes on the
same data dir read that file and reuse the running server instead of opening the same files
twice. An flock on `mongo.lock` makes "check, then start" atomic across processes; a record
whose server no longer answers (a crash) or whose owner is gone is stale and replaced.

The owner keeps its server alive: a watchdog thread (`watchdog.py`) restarts it, under the same
lock and on the same port, when it dies or stops answering, so every client reconnects by itself.
`serve` and `api` ask for the server exclusively: they refuse a data dir whose server another
live process runs, since that server stops when its owner does.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import logging
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pymongo
from pymongo.errors import OperationFailure, PyMongoError

from crm.errors import Conflict, Unavailable
from crm.store import credentials
from crm.store.credentials import Credentials
from crm.store.data_dir import check_data_dir

if TYPE_CHECKING:
    from crm.store.watchdog import Watchdog

log = logging.getLogger("crm.store")
START_TIMEOUT_SECONDS = 60
# What reaches the server must stay the owner's: its password file, record (the port), lock and
# log files 0600, its storage folder 0700. The password keeps out other users of the machine,
# who can reach its port on 127.0.0.1.
PRIVATE_FILE, PRIVATE_DIR = 0o600, 0o700


def _make_private(folder: Path) -> None:
    """The data dir, the storage folder and what an earlier version left there: the owner's only."""
    folder.parent.chmod(PRIVATE_DIR)
    folder.chmod(PRIVATE_DIR)
    for path in folder.rglob("*"):
        path.chmod(PRIVATE_DIR if path.is_dir() else PRIVATE_FILE)
    for name in ("mongo.json", "mongo.log", "mongo.lock", credentials.FILE_NAME):
        existing = folder.parent / name
        if existing.exists():
            existing.chmod(PRIVATE_FILE)


@dataclass
class ServerInfo:
    port: int
    server_pid: int
    owner_pid: int
    # Not in the record (mongo.json): the password lives in its own file.
    credentials: Credentials | None = field(default=None, repr=False, compare=False)

    @property
    def uri(self) -> str:
        if self.credentials is None:  # a server being provisioned, which runs without authentication
            return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"
        return self.credentials.uri(self.port)

    @property
    def shown_uri(self) -> str:
        """The connection string with its password masked."""
        return self.credentials.uri(self.port, shown=True) if self.credentials else self.uri

    def record(self) -> str:
        return json.dumps({"port": self.port, "server_pid": self.server_pid, "owner_pid": self.owner_pid})


class _CredentialsRefused(Exception):
    """The server at a port refused this data dir's user and password."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pings(uri: str, timeout_ms: int = 500) -> bool:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms
    )
    try:
        client.admin.command("ping")
        return True
    except OperationFailure as exc:
        if exc.code == credentials.AUTHENTICATION_FAILED:
            raise _CredentialsRefused from None
        return False
    except PyMongoError:
        return False
    finally:
        client.close()


def _server_pid_at(uri: str) -> int | None:
    """The pid of the server answering at `uri` (serverStatus names it), or None."""
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        uri, serverSelectionTimeoutMS=2000, connectTimeoutMS=2000
    )
    try:
        return int(client.admin.command("serverStatus").get("pid") or 0) or None
    except (PyMongoError, TypeError, ValueError):
        return None
    finally:
        client.close()


def _command_line(pid: int) -> str:
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "unknown command"
    text = " ".join(w.decode(errors="replace") for w in words if w)
    return text.replace(sys.executable, "python") if text else "unknown command"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


class EmbeddedServer:
    """Finds or starts the server for one data dir; keeps the one it started alive."""

    def __init__(self, data_dir: Path, wedged_seconds: float | None = None):
        self.data_dir = data_dir
        self.storage = data_dir / "mongo"
        self.info_file = data_dir / "mongo.json"
        self.lock_file = data_dir / "mongo.lock"
        self.wedged_seconds = wedged_seconds
        self._supervisor: subprocess.Popen | None = None
        self._watchdog: Watchdog | None = None
        self._stop_registered = False

    def read_info(self) -> ServerInfo | None:
        try:
            record = json.loads(self.info_file.read_text())
            return ServerInfo(
                port=record["port"],
                server_pid=record["server_pid"],
                owner_pid=record["owner_pid"],
                credentials=credentials.read(self.data_dir),
            )
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def _running(self) -> ServerInfo | None:
        # A server whose owner is gone is on its way down (its supervisor saw the pipe close).
        info = self.read_info()
        if not (info and _pid_alive(info.server_pid) and _pid_alive(info.owner_pid)):
            return None
        try:
            return info if _pings(info.uri) else None
        except _CredentialsRefused:  # it cannot be used as it is: restart it, and say why if that fails too
            return None

    @contextmanager
    def locked(self):
        """The data dir's start lock: one process at a time looks, then starts."""
        with open(os.open(self.lock_file, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def ensure(self, exclusive: bool = False) -> ServerInfo:
        """Return a running server for this data dir, starting one if none answers.

        exclusive: refuse (Conflict) a server that another live process runs, unless it is our
        parent (`serve` starting its API); for processes that must not die with another's server.
        """
        check_data_dir(self.data_dir)
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            with self.locked():
                info = self._running()
                if info and exclusive:
                    _refuse_if_owned_by_another(info, self.data_dir)
                return info or self._start()
        except OSError as exc:  # the checks above passed, yet the file system refused
            raise Unavailable(
                f"cannot use the data dir {self.data_dir}: {exc.strerror or exc}; "
                "check that it is a writable folder, or point CRM_DATA_DIR elsewhere"
            ) from None

    def restart(self, failing_pid: int | None) -> ServerInfo | None:
        """Replace the server `failing_pid`, which died or fails (the watchdog's call); None if
        another process has already replaced it with one that answers."""
        with self.locked():
            info = self._running()
            if info and info.server_pid != failing_pid:
                return None
            return self._start()

    def _start(self) -> ServerInfo:
        stale = self.read_info()
        if stale and _pid_alive(stale.server_pid):
            # A server from a crashed owner, or one that no longer answers: it still holds the files.
            os.kill(stale.server_pid, 9)
            _wait_until(lambda: not _pid_alive(stale.server_pid), 10)
        self._reap_supervisor()
        self.info_file.unlink(missing_ok=True)
        self.storage.mkdir(parents=True, exist_ok=True)
        _make_private(self.storage)
        login = self._credentials()
        # The port it had, when restarting: clients of every process on this data dir reconnect
        # to it by themselves. Another program may have taken it meanwhile: then a free one.
        ports = [stale.port] if stale else []
        refused = False
        for port in [*ports, _free_port()]:
            try:
                info = self._launch(port, login)
            except _CredentialsRefused:
                self._reap_supervisor()
                info, refused = None, True
            if info:
                break
        else:
            if refused:
                raise Unavailable(
                    f"the embedded database in {self.data_dir} refuses the password in "
                    f"{self.data_dir / credentials.FILE_NAME}; delete that file and start again: a new "
                    "password is then set"
                )
            raise Unavailable(f"the embedded database did not start; see {self.data_dir / 'mongo.log'}")
        with open(os.open(self.info_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE), "w") as record:
            record.write(info.record())
        if not self._stop_registered:
            atexit.register(self.stop)
            self._stop_registered = True
        self._watch()
        return info

    def _credentials(self) -> Credentials:
        """This data dir's database login, setting it up first if it has none (a new data dir, or
        one from before the server required a password)."""
        if not any(self.storage.iterdir()):
            credentials.forget(self.data_dir)  # new storage holds no user: a password of old files is void
        login = credentials.read(self.data_dir)
        if login is not None:
            return login
        login = credentials.new()
        info = self._launch(_free_port(), None)
        if info is None:
            raise Unavailable(f"the embedded database did not start; see {self.data_dir / 'mongo.log'}")
        try:
            credentials.set_on_server(info.uri, login)
        except PyMongoError as exc:
            raise Unavailable(f"could not set up the embedded database's user: {exc}") from None
        finally:
            self._reap_supervisor()
        credentials.write(self.data_dir, login)
        log.info("the embedded database in %s now requires a password", self.data_dir)
        return login

    def _launch(self, port: int, login: Credentials | None) -> ServerInfo | None:
        """Start the supervised server on `port`; None if it did not come up there as ours.

        login None: without authentication, only to set up the user (on a fresh port)."""
        log_file = open(
            os.open(self.data_dir / "mongo.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE), "ab"
        )
        without_auth = [] if login else ["--without-auth"]
        with log_file:
            self._supervisor = subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).with_name("supervise.py")),
                    str(port),
                    str(self.storage),
                    *without_auth,
                ],
                stdin=subprocess.PIPE,
                stdout=log_file,
                stderr=log_file,
                cwd=str(self.data_dir),  # the server auto-discovers ./secantusd.toml: not ours
                start_new_session=True,  # Ctrl-C in a terminal reaches us; we stop it in order
                umask=0o077,  # the database files it creates are the owner's alone
            )
        info = ServerInfo(port=port, server_pid=0, owner_pid=os.getpid(), credentials=login)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not _pings(info.uri, 300):
            if self._supervisor.poll() is not None or time.monotonic() > deadline:
                self._reap_supervisor()
                return None
            time.sleep(0.1)
        # Something answered: make sure it is our server, not another program's on that port.
        info.server_pid = _server_pid(self._supervisor.pid) or 0
        if not info.server_pid or _server_pid_at(info.uri) != info.server_pid:
            self._reap_supervisor()
            return None
        return info

    def _watch(self) -> None:
        from crm.store.watchdog import Watchdog

        if self._watchdog is None:
            watchdog = self._watchdog = Watchdog(self, self.wedged_seconds)
            watchdog.start()

    def supervisor_alive(self) -> bool:
        return self._supervisor is not None and self._supervisor.poll() is None

    def _reap_supervisor(self) -> None:
        """Stop our supervisor, if any (it stops its server), and wait for it."""
        sup, self._supervisor = self._supervisor, None
        if sup is None:
            return
        if sup.poll() is None:
            if sup.stdin is not None:
                sup.stdin.close()  # EOF tells the supervisor to stop the server
            try:
                sup.wait(30)
            except subprocess.TimeoutExpired:
                sup.kill()
                sup.wait()
        elif sup.stdin:
            sup.stdin.close()

    def stop(self) -> None:
        """Stop the server if this process started it (others only ever reuse it)."""
        if self._watchdog is not None:
            self._watchdog.stop()  # first, or it would restart the server we are stopping
            self._watchdog = None
        owned = self.owned
        self._reap_supervisor()
        info = self.read_info()
        if owned and info and info.owner_pid == os.getpid():
            self.info_file.unlink(missing_ok=True)

    @property
    def owned(self) -> bool:
        return self.supervisor_alive()


def _refuse_if_owned_by_another(info: ServerInfo, data_dir: Path) -> None:
    if info.owner_pid in (os.getpid(), os.getppid()):
        return
    raise Conflict(
        f"the data dir {data_dir} is in use: its database is run by another process "
        f"(pid {info.owner_pid}: {_command_line(info.owner_pid)}) and stops when that process does; "
        "stop that process first, or point CRM_DATA_DIR at another folder"
    )


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
