"""Keeps the embedded server its owner started alive: restarts it when it dies or wedges.

Every second it looks at the data dir's server. One whose process is gone is restarted at once.
One that lives but fails a real write and read-back (a storage panic, as after a full disk) or
does not answer within the probe timeout (hung) is restarted once it has failed for
`wedged_seconds` in a row, so a busy moment is not taken for a wedge. The restart runs under the
data dir's start lock and keeps the port, so clients in every process reconnect by themselves.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import UTC, datetime

import pymongo
from pymongo.errors import PyMongoError

from crm.errors import CRMError

log = logging.getLogger("crm.store")

CHECK_SECONDS = 1.0
PROBE_TIMEOUT_SECONDS = 3.0
WEDGED_SECONDS = 10.0
# The probe's own document, apart from the application's databases.
PROBE_DB, PROBE_COLLECTION = "crm_watchdog", "heartbeat"
STOPPED = "stopped"


class Watchdog(threading.Thread):
    def __init__(self, server, wedged_seconds: float | None = None):
        super().__init__(name="embedded-database-watchdog", daemon=True)
        self.server = server
        self.wedged_seconds = WEDGED_SECONDS if wedged_seconds is None else wedged_seconds
        self.restarts = 0
        self._stopping = threading.Event()
        self._client: pymongo.MongoClient | None = None
        self._uri: str | None = None

    def stop(self) -> None:
        self._stopping.set()
        if self is not threading.current_thread() and self.is_alive():
            self.join(90)  # a restart under way finishes first

    def run(self) -> None:
        failing_since = None
        try:
            while not self._stopping.wait(CHECK_SECONDS):
                info = self.server.read_info()
                problem = self._problem(info)
                if problem is None:
                    failing_since = None
                    continue
                failing_since = failing_since or time.monotonic()
                if problem != STOPPED and time.monotonic() - failing_since < self.wedged_seconds:
                    continue
                if self._restart(problem, info.server_pid if info else None):
                    failing_since = None
        finally:
            if self._client is not None:
                self._client.close()

    def _restart(self, problem: str, failing_pid: int | None) -> bool:
        if self._stopping.is_set():
            return False
        log.warning("the embedded database in %s %s; restarting it", self.server.data_dir, problem)
        try:
            if self.server.restart(failing_pid):
                self.restarts += 1
                log.warning("the embedded database in %s runs again", self.server.data_dir)
            return True
        except (CRMError, OSError) as exc:  # e.g. the disk is still full: try again next round
            log.warning("could not restart the embedded database: %s; trying again", exc)
            return False

    def _problem(self, info) -> str | None:
        """None when the data dir's server answers a write and a read; else what is wrong."""
        if info is None or not _alive(info.server_pid):
            return STOPPED
        try:
            self._probe(info.uri)
            return None
        except PyMongoError as exc:
            if getattr(exc, "timeout", False):
                return f"did not answer within {PROBE_TIMEOUT_SECONDS:g} s"
            return f"failed a write and read ({str(exc)[:200]})"

    def _probe(self, uri: str) -> None:
        if self._client is None or self._uri != uri:
            if self._client is not None:
                self._client.close()
            self._client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000)
            self._uri = uri
        heartbeat = self._client[PROBE_DB][PROBE_COLLECTION]
        with pymongo.timeout(PROBE_TIMEOUT_SECONDS):
            heartbeat.update_one({"_id": "owner"}, {"$set": {"at": datetime.now(UTC), "pid": os.getpid()}}, upsert=True)
            if heartbeat.find_one({"_id": "owner"}) is None:
                raise PyMongoError("a write just made cannot be read back")


def _alive(pid: int) -> bool:
    from crm.store.embedded import _pid_alive

    return _pid_alive(pid)
