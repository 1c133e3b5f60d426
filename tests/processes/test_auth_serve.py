"""`python -m crm serve` makes the first admin and prints its one-time password, once, on the
console, before anyone opens the web UI; it is written nowhere else."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pymongo
import pytest

from crm.auth import users
from crm.store.embedded import EmbeddedServer
from tests.support import ROOT, free_port, stop_gently, wait_for

NOTICE = re.compile(r"username: (\S+)\s+one-time password: (\S+)")

pytestmark = pytest.mark.slow


def serve_until_ready(data_dir: Path, console: Path) -> str:
    """Start serve (UI only), wait for "ready", stop it; returns what it printed."""
    env = {**os.environ, "CRM_DATA_DIR": str(data_dir), "CRM_DB_NAME": "crm"}
    for key in ("MONGODB_URI", "REDIS_URL"):
        env.pop(key, None)
    with open(console, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "crm", "serve", "--no-api", "--ui-port", str(free_port())],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: "ready" in console.read_text() or process.poll() is not None, 180, "serve to be ready")
        assert process.poll() is None, console.read_text()
    finally:
        stop_gently(process)
    return console.read_text()


def test_the_first_start_of_serve_prints_the_admin_and_its_one_time_password_once(tmp_path):
    data_dir = tmp_path / "data"
    first = serve_until_ready(data_dir, tmp_path / "first.log")
    found = NOTICE.findall(first)
    assert len(found) == 1, first
    username, password = found[0]
    assert username == "admin"
    assert first.index("one-time password") < first.index("ready")

    second = serve_until_ready(data_dir, tmp_path / "second.log")
    assert "one-time password" not in second and "ready" in second

    leaked = [path for path in data_dir.rglob("*") if path.is_file() and password.encode() in path.read_bytes()]
    assert leaked == []  # not in the database's files or logs, nor in the audit log
    server = EmbeddedServer(data_dir)
    client = pymongo.MongoClient(server.ensure().uri, serverSelectionTimeoutMS=10_000)
    try:
        stored = client["crm"].users.find_one({"username": "admin"})
        assert users.check_password(password, stored["password_hash"]) and stored["must_change_password"]
        assert stored["password_hash"].startswith("$2b$12$")  # bcrypt at its full cost outside the tests
        assert password not in str(list(client["crm"].audit_log.find({}, {"_id": 0})))
    finally:
        client.close()
        server.stop()
