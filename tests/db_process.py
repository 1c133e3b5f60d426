"""`python -m crm api` in a process of its own on a fresh data dir: it owns its embedded database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pymongo

from crm.store.embedded import EmbeddedServer
from tests.support import ROOT, free_port, stop_gently, wait_for

DB_NAME = "recovery"


@dataclass
class ApiProcess:
    process: subprocess.Popen
    url: str
    data_dir: Path
    log: Path

    def server(self) -> dict:
        """The data dir's record of its embedded server: port, server_pid, owner_pid."""
        return json.loads((self.data_dir / "mongo.json").read_text())

    def db(self):
        return pymongo.MongoClient(EmbeddedServer(self.data_dir).read_info().uri, tz_aware=True)[DB_NAME]

    def health(self) -> int | None:
        try:
            return httpx.get(self.url + "/healthz", timeout=10).status_code
        except httpx.HTTPError:
            return None

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_api(data_dir: Path, **env_extra: str) -> ApiProcess:
    port = free_port()
    env = {**os.environ, "CRM_DATA_DIR": str(data_dir), "CRM_DB_NAME": DB_NAME, **env_extra}
    for name in ("MONGODB_URI", "REDIS_URL"):
        env.pop(name, None)
    log = data_dir.parent / f"{data_dir.name}-api.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "crm", "api", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    api = ApiProcess(process, f"http://127.0.0.1:{port}", data_dir, log)
    try:
        wait_for(lambda: api.health() == 200 or process.poll() is not None, 90, "the API to answer /healthz")
    except AssertionError:
        stop_gently(process)
        raise
    assert process.poll() is None, api.output()
    return api
