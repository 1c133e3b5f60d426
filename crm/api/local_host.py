"""Where a sending process finds the vendor, and how the vendor reaches our receipt endpoint.

The edges (CLI, web UI) ask `endpoints(settings)` and hand the vendor's URL to the core's
`send_campaign`, which only ever talks to a vendor at a URL.

`CRM_VENDOR_URL` set: messages go to that vendor, which posts receipts to the API it was told
about (for the mock vendor of a running `python -m crm api`, that API itself).
Unset (the default): the sending process hosts the API app itself (the mock vendor and the
receipt endpoint included) with uvicorn on a free port on 127.0.0.1, in a background thread, for
as long as the process lives, and tells the mock vendor that address (`app.state.public_url`),
the only place its receipts go. It never borrows an API found on a default port: that one may
serve another database. The CLI keeps it up until the receipts are in (`--wait`) or until the
vendor has posted what it owes; the web UI keeps one for the life of its server.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from crm.api.app import create_app
from crm.config import Settings
from crm.errors import Unavailable

START_TIMEOUT_SECONDS = 30


class LocalHost:
    """The API app served in this process on a free port."""

    def __init__(self, settings: Settings, app: FastAPI | None = None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))  # bound here, handed to uvicorn: no port race
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = app if app is not None else create_app(settings)  # another app: a benchmark's baseline
        self.app.state.public_url = self.url
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on", timeout_graceful_shutdown=10)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, name="crm-local-api", daemon=True
        )

    def start(self) -> LocalHost:
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise Unavailable("the local API for the mock vendor and delivery receipts did not start")
            time.sleep(0.02)
        return self

    @property
    def receipts_owed(self) -> int:
        vendor = getattr(self.app.state, "vendor", None)
        return vendor.outstanding if vendor is not None else 0

    def drain(self, timeout: float = 30) -> bool:
        """Wait until the mock vendor has posted every receipt it scheduled; True when it has."""
        deadline = time.monotonic() + timeout
        while self.receipts_owed and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.receipts_owed == 0

    def stop(self) -> None:
        """Stop serving; queued receipt writes are flushed by the app's shutdown."""
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()


@dataclass(frozen=True)
class Endpoints:
    vendor_url: str  # base URL of the vendor; messages go to <vendor_url>/vendor/v1/messages
    host: LocalHost | None  # the in-process host, when we run one


_hosts: dict[tuple, LocalHost] = {}
_lock = threading.Lock()


def endpoints(settings: Settings) -> Endpoints:
    """The vendor to send to; starts (once per process and database) the in-process host if needed."""
    if settings.vendor_url:
        return Endpoints(settings.vendor_url.rstrip("/"), None)
    key = (os.getpid(), str(settings.data_dir), settings.mongodb_uri, settings.db_name)
    with _lock:
        host = _hosts.get(key)
        if host is None or not host.thread.is_alive():
            host = _hosts[key] = LocalHost(settings).start()
    return Endpoints(host.url, host)


def drain_hosts(timeout: float) -> bool:
    """Wait until every in-process mock vendor has posted the receipts it owes."""
    with _lock:
        hosts = list(_hosts.values())
    return all(host.drain(timeout) for host in hosts)


def stop_hosts() -> None:
    with _lock:
        hosts = list(_hosts.values())
        _hosts.clear()
    for host in hosts:
        host.stop()
