"""kill -9 of the database in the middle of an import: a clear failure, no lost writes, a clean re-run."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys

import pymongo
import pytest

from crm.ingest.fake_csv import write_customers_csv
from crm.store.embedded import EmbeddedServer, _pid_alive
from tests.support import ROOT, wait_for

pytestmark = pytest.mark.slow  # servers started and killed in child processes

ROWS = 20_000  # enough that the write phase lasts seconds, so the kill lands mid-import
OWNER = (
    "import sys; from pathlib import Path; from crm.store.embedded import EmbeddedServer;"
    "info = EmbeddedServer(Path(sys.argv[1])).ensure(); print(info.server_pid, flush=True);"
    "sys.stdin.read()"
)


def test_import_fails_clearly_when_the_database_dies_and_a_rerun_completes_without_duplicates(tmp_path):
    csv_path = write_customers_csv(tmp_path / "customers.csv", ROWS)
    data_dir = tmp_path / "data"
    env = {key: value for key, value in os.environ.items() if key != "MONGODB_URI"}
    env.update(CRM_DATA_DIR=str(data_dir), CRM_DB_NAME="crash")
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(data_dir)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    importer = None
    server = EmbeddedServer(data_dir)
    try:
        server_pid = int(owner.stdout.readline())
        info = json.loads((data_dir / "mongo.json").read_text())
        assert info["server_pid"] == server_pid
        uri = server.read_info().uri
        with pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
            importer = subprocess.Popen(
                [sys.executable, "-m", "crm", "import", "customers", str(csv_path)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            customers = client.crash.customers
            wait_for(
                lambda: customers.count_documents({}) > 0 or importer.poll() is not None,
                300,
                "the import to start writing",
            )
            acknowledged = set(customers.distinct("customer_id"))
            assert importer.poll() is None, "the import finished before the kill: make the file larger"
            assert 0 < len(acknowledged) < ROWS
            # The owner goes first: its watchdog would restart the server at once, and the import's
            # retries could then succeed; here the database stays down.
            owner.kill()
            owner.wait(60)
            with contextlib.suppress(ProcessLookupError):  # its supervisor may have stopped it first
                os.kill(server_pid, signal.SIGKILL)
        stdout, stderr = importer.communicate(timeout=180)
        assert importer.returncode == 2, stderr
        assert "error: the database stopped answering while writing customers" in stderr
        assert "run the same import again" in stderr and "Traceback" not in stderr
        assert stdout == ""

        wait_for(lambda: not _pid_alive(server_pid), 30, "the killed server to be gone")

        # A new process finds the stale mongo.json, starts a fresh server on the same files.
        restarted = server.ensure()
        assert restarted.server_pid != server_pid
        with pymongo.MongoClient(restarted.uri) as client:
            survived = set(client.crash.customers.distinct("customer_id"))
            assert acknowledged <= survived, f"{len(acknowledged - survived)} acknowledged writes were lost"

            rerun = subprocess.run(
                [sys.executable, "-m", "crm", "import", "customers", str(csv_path)],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert rerun.returncode == 0, rerun.stderr
            summary = json.loads(rerun.stdout.strip().splitlines()[-1])
            assert summary["inserted"] + summary["unchanged"] + summary["updated"] == ROWS
            assert summary["inserted"] == ROWS - len(survived)

            customers = client.crash.customers
            assert customers.count_documents({}) == ROWS
            assert len(customers.distinct("customer_id")) == ROWS
            assert customers.find_one({"customer_id": "C0000001"})["email"] == "user1@example.com"
    finally:
        if importer is not None and importer.poll() is None:
            importer.kill()
            importer.wait()
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        server.stop()
