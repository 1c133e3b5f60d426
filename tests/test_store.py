"""The embedded database: started once per data dir, shared, stopped with its owner."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pymongo

from crm.store.embedded import EmbeddedServer, _pid_alive

from .conftest import ROOT
from tests.support import wait_for


def test_indexes_are_created_and_unique_ids_enforced(db):
    from pymongo.errors import DuplicateKeyError
    import pytest

    db.customers.insert_one({"customer_id": "C1"})
    with pytest.raises(DuplicateKeyError):
        db.customers.insert_one({"customer_id": "C1"})
    assert "customer_id_1" in db.customers.index_information()


def test_second_process_reuses_the_running_server(crm_env, mongo_server):
    _, info = mongo_server
    env = {**os.environ, **crm_env}
    out = subprocess.run([sys.executable, "-m", "crm", "db", "status"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    status = json.loads(out.strip().splitlines()[-1])
    assert f":{info.port}/" in status["uri"]


def test_server_stops_when_its_owner_is_killed_and_a_stale_record_is_recovered(tmp_path):
    code = ("import sys,time; from crm.store.embedded import EmbeddedServer;"
            f"i=EmbeddedServer(__import__('pathlib').Path({str(tmp_path)!r})).ensure();"
            "print(i.server_pid, flush=True); time.sleep(600)")
    owner = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    server_pid = int(owner.stdout.readline())
    assert _pid_alive(server_pid)
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    wait_for(lambda: not _pid_alive(server_pid), 30, "the server to stop with its owner")
    # mongo.json still names the dead server: the next process must start a fresh one.
    assert (tmp_path / "mongo.json").exists()
    server = EmbeddedServer(tmp_path)
    try:
        info = server.ensure()
        assert info.server_pid != server_pid and server.owned
    finally:
        server.stop()
    assert not (tmp_path / "mongo.json").exists()


def test_the_embedded_servers_files_are_the_owners_alone(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    (data_dir / "mongo.log").write_text("from an earlier version\n")
    (data_dir / "mongo.log").chmod(0o644)
    server = EmbeddedServer(data_dir)
    try:
        info = server.ensure()
        client = pymongo.MongoClient(info.uri)
        client.crm.t.insert_one({"secret": 1})  # the server writes its files
        client.close()
        modes = {path.relative_to(data_dir).as_posix(): path.stat().st_mode & 0o777
                 for path in [data_dir, *data_dir.rglob("*")]}
    finally:
        server.stop()
    assert modes["."] == 0o700 and modes["mongo"] == 0o700
    assert modes["mongo.json"] == modes["mongo.log"] == modes["mongo.lock"] == 0o600
    readable_by_others = {name: oct(mode) for name, mode in modes.items() if mode & 0o077}
    assert not readable_by_others
