"""`python -m crm serve`: the database (embedded unless MONGODB_URI), the API, the web UI and the
campaign scheduler.

On the first start with local accounts it creates the `admin` account and prints its one-time
password on the console, once (before the UI starts, so the UI finds the admin made).

The scheduler is a child like the others (`python -m crm scheduler`), not a thread here: a
campaign it starts is sent from that process, which hosts the mock vendor and the receipt
endpoint for it as `campaign send` does, so the sending's threads, HTTP clients and memory stay
out of this small supervising process, and the same command runs alone beside a real MongoDB.

This process owns the embedded database: it starts it first, so the UI and API children find it
running and reuse it. The children run in sessions of their own, so a Ctrl-C in the terminal
reaches only us and we stop them in order: UI, API, scheduler, then the database. Should we die
without cleaning up (kill -9), the kernel sends each child SIGTERM (PR_SET_PDEATHSIG) and the
database's supervisor sees its pipe close, so nothing is left running.

A second `serve` (or `api`) on a data dir whose database another live process runs refuses to
start: that database stops with its owner, and this one must not die with it.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pymongo.errors import PyMongoError

from crm.config import load_settings
from crm.errors import Unavailable

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 90
STOP_GRACE_SECONDS = 15
PR_SET_PDEATHSIG = 1


def register(sub) -> None:
    settings = load_settings()
    parser = sub.add_parser(
        "serve",
        help="start the database, API and web UI together",
        description="Starts the embedded database (unless MONGODB_URI is set), the "
        "REST API and the web UI, prints their URLs, and stops them all "
        "on Ctrl-C.",
    )
    parser.add_argument(
        "--host", default=settings.api_host, help=f"address the UI and API listen on (default {settings.api_host})"
    )
    parser.add_argument(
        "--ui-port", type=int, default=settings.ui_port, help=f"web UI port (default {settings.ui_port})"
    )
    parser.add_argument(
        "--api-port", type=int, default=settings.api_port, help=f"REST API port (default {settings.api_port})"
    )
    parser.add_argument("--no-api", action="store_true", help="start the web UI only")
    parser.set_defaults(handler=serve_command)


@dataclass
class Child:
    name: str
    command: list[str]
    url: str  # what to open, or what it does
    health_url: str | None  # answers 200 once the child is ready (None: ready once started)
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def started(self) -> subprocess.Popen:
        """Its process, once started (asked for only after that)."""
        assert self.process is not None, f"the {self.name} was not started"
        return self.process


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the parent dies, however that happens."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux: the orderly stop below still applies


def api_available() -> bool:
    """The API ships in this build: its app module and its `python -m crm api` command."""
    from crm.cli import COMMAND_MODULES

    return importlib.util.find_spec("crm.api.app") is not None and "crm.commands.api" in COMMAND_MODULES


def plan(host: str, ui_port: int, api_port: int, with_api: bool, with_worker: bool = False) -> list[Child]:
    """The children to start, in start order (they stop in reverse)."""
    children = [
        Child("scheduler", [sys.executable, "-m", "crm", "scheduler"], "starting scheduled campaigns when due", None)
    ]
    if with_worker:  # API writes queue in Redis: someone must persist them (the scheduler runs apart)
        children.append(
            Child(
                "worker",
                [sys.executable, "-m", "crm", "worker", "--no-scheduler"],
                "persisting queued API writes from Redis",
                None,
            )
        )
    if with_api:
        children.append(
            Child(
                "API",
                [sys.executable, "-m", "crm", "api", "--host", host, "--port", str(api_port)],
                f"http://{host}:{api_port}/docs",
                f"http://{host}:{api_port}/healthz",
            )
        )
    children.append(
        Child(
            "UI",
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(ROOT / "app.py"),
                "--server.address",
                host,
                "--server.port",
                str(ui_port),
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
                "--server.fileWatcherType",
                "none",
            ],
            f"http://{host}:{ui_port}/",
            f"http://{host}:{ui_port}/_stcore/health",
        )
    )
    return children


def first_admin_notice() -> str | None:
    """Local accounts (no OIDC provider in the UI's secrets) and no admin yet: create one."""
    from crm.auth import users
    from crm.auth.signin_settings import oidc_provider, read_secrets
    from crm.store import get_db

    if oidc_provider(read_secrets(ROOT)) is not None:
        return None
    return users.first_start_notice(db=get_db())


def serve_command(args) -> int:
    from crm.ingest.migrations import normalise_stored_customers
    from crm.store import claim_database, embedded_server, get_db

    settings = load_settings()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())

    with_api = not args.no_api and api_available()
    if not args.no_api and not with_api:
        print("note: the REST API is not part of this build yet; starting the UI only", flush=True)
    children = plan(args.host, args.ui_port, args.api_port, with_api, with_worker=with_api and bool(settings.redis_url))
    env = {
        **os.environ,
        "CRM_UI_PORT": str(args.ui_port),
        "CRM_API_PORT": str(args.api_port),
        "CRM_API_HOST": args.host,
    }
    # Starts the embedded server in this process: we own it, children reuse it. One that another
    # process runs is refused (it would stop when that process does), before anything starts.
    claim_database(settings)
    try:
        try:
            get_db(settings)
        except PyMongoError as exc:
            raise Unavailable(f"cannot reach the database at MONGODB_URI: {exc}") from None
        if settings.embedded:
            print(f"database: embedded, data in {settings.data_dir}", flush=True)
        migrated = normalise_stored_customers(get_db(settings), settings.phone_region)
        if migrated.customers_changed or migrated.left_as_they_were:
            print(f"stored values normalised: {json.dumps(migrated.as_dict())}", flush=True)
        notice = first_admin_notice()
        if notice:  # at once: should a child then fail to start, the password is not lost
            print(f"\n{notice}\n", flush=True)
        for child in children:
            child.process = subprocess.Popen(
                child.command,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        for child in children:
            _wait_healthy(child, stop)
        if not stop.is_set():
            for child in reversed(children):  # the UI first: that is what people open
                print(f"{child.name}: {child.url}", flush=True)
            print("ready; press Ctrl-C to stop", flush=True)
        while not stop.wait(0.5):
            for child in children:
                if child.started.poll() is not None:
                    raise Unavailable(
                        f"the {child.name} stopped unexpectedly (exit code "
                        f"{child.started.returncode}); stopping everything"
                    )
    finally:
        for child in reversed(children):
            _stop(child)
        if settings.embedded:
            embedded_server(settings).stop()
        print("stopped", flush=True)
    return 0


def _wait_healthy(child: Child, stop: threading.Event) -> None:
    if child.health_url is None:
        return  # a child that serves nothing; the main loop notices if it stops
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    with httpx.Client(timeout=2) as http:
        while not stop.is_set():
            if child.started.poll() is not None:
                raise Unavailable(
                    f"the {child.name} did not start (exit code {child.started.returncode}); "
                    "see its output above (is the port already in use?)"
                )
            try:
                if http.get(child.health_url).status_code == 200:
                    return
            except httpx.HTTPError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise Unavailable(
                    f"the {child.name} did not answer {child.health_url} within {START_TIMEOUT_SECONDS} s"
                )
            stop.wait(0.2)


def _stop(child: Child) -> None:
    process = child.process
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
