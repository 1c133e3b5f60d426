"""The embedded database: started once per data dir, shared, stopped with its owner."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pymongo
import pytest

from crm.store.embedded import EmbeddedServer, _pid_alive
from tests.support import ROOT, free_port, wait_for


def test_indexes_are_created_and_unique_ids_enforced(db):
    import pytest
    from pymongo.errors import DuplicateKeyError

    db.customers.insert_one({"customer_id": "C1"})
    with pytest.raises(DuplicateKeyError):
        db.customers.insert_one({"customer_id": "C1"})
    assert "customer_id_1" in db.customers.index_information()


def test_second_process_reuses_the_running_server(crm_env, mongo_server):
    _, info = mongo_server
    env = {**os.environ, **crm_env}
    out = subprocess.run(
        [sys.executable, "-m", "crm", "db", "status"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    status = json.loads(out.strip().splitlines()[-1])
    assert f":{info.port}/" in status["uri"]


@pytest.mark.slow
def test_server_stops_when_its_owner_is_killed_and_a_stale_record_is_recovered(tmp_path):
    code = (
        "import sys,time; from crm.store.embedded import EmbeddedServer;"
        f"i=EmbeddedServer(__import__('pathlib').Path({str(tmp_path)!r})).ensure();"
        "print(i.server_pid, flush=True); time.sleep(600)"
    )
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


@pytest.mark.slow
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
        modes = {
            path.relative_to(data_dir).as_posix(): path.stat().st_mode & 0o777
            for path in [data_dir, *data_dir.rglob("*")]
        }
    finally:
        server.stop()
    assert modes["."] == 0o700 and modes["mongo"] == 0o700
    assert modes["mongo.json"] == modes["mongo.log"] == modes["mongo.lock"] == 0o600
    readable_by_others = {name: oct(mode) for name, mode in modes.items() if mode & 0o077}
    assert not readable_by_others


@pytest.mark.slow
def test_the_embedded_server_reads_nothing_to_a_client_without_its_password(tmp_path):
    from pymongo.errors import OperationFailure

    server = EmbeddedServer(tmp_path)
    try:
        info = server.ensure()
        with pymongo.MongoClient(info.uri) as owner:
            owner.crm.customers.insert_one({"customer_id": "C1", "email": "asha@example.in"})
        plain = f"mongodb://127.0.0.1:{info.port}/?directConnection=true"
        wrong = f"mongodb://crm:guess@127.0.0.1:{info.port}/?directConnection=true&authSource=admin"
        with pymongo.MongoClient(plain, serverSelectionTimeoutMS=3000) as stranger:
            with pytest.raises(OperationFailure) as refused:
                stranger.crm.customers.find_one()
            assert refused.value.code == 13  # requires authentication
        with pymongo.MongoClient(wrong, serverSelectionTimeoutMS=3000) as guesser:
            with pytest.raises(OperationFailure) as refused:
                guesser.crm.customers.find_one()
            assert refused.value.code == 18  # authentication failed
        # The password is in its own file, the owner's alone, and in neither the record nor the log.
        password = json.loads((tmp_path / "mongo.auth").read_text())["password"]
        assert len(password) >= 32 and (tmp_path / "mongo.auth").stat().st_mode & 0o777 == 0o600
        assert password not in (tmp_path / "mongo.json").read_text()
        assert password not in (tmp_path / "mongo.log").read_text()
        assert password not in repr(info)
    finally:
        server.stop()


@pytest.mark.slow
def test_a_data_dir_from_before_passwords_gets_one_and_keeps_its_data(tmp_path):
    from crm.store.supervise import server_command

    # A store written by an earlier version: a server without authentication.
    storage = tmp_path / "mongo"
    port = free_port()
    old = subprocess.Popen(
        server_command(port, str(storage), auth=False), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
        wait_for(lambda: _answers(uri), 60, "the old server")
        with pymongo.MongoClient(uri) as client:
            client.crm.customers.insert_one({"customer_id": "C1"})
    finally:
        old.terminate()
        old.wait(30)
    assert not (tmp_path / "mongo.auth").exists()
    server = EmbeddedServer(tmp_path)
    try:
        info = server.ensure()
        with pymongo.MongoClient(info.uri) as client:
            assert client.crm.customers.find_one({}, {"_id": 0}) == {"customer_id": "C1"}
        with pymongo.MongoClient(f"mongodb://127.0.0.1:{info.port}/?directConnection=true") as stranger:
            with pytest.raises(pymongo.errors.OperationFailure):
                stranger.crm.customers.find_one()
    finally:
        server.stop()
    # Started again, it keeps the same password and the same data.
    password = json.loads((tmp_path / "mongo.auth").read_text())["password"]
    server = EmbeddedServer(tmp_path)
    try:
        with pymongo.MongoClient(server.ensure().uri) as client:
            assert client.crm.customers.count_documents({}) == 1
        assert json.loads((tmp_path / "mongo.auth").read_text())["password"] == password
    finally:
        server.stop()


@pytest.mark.slow
def test_a_lost_password_file_is_replaced_and_a_wrong_one_is_named(tmp_path):
    server = EmbeddedServer(tmp_path)
    try:
        with pymongo.MongoClient(server.ensure().uri) as client:
            client.crm.customers.insert_one({"customer_id": "C1"})
    finally:
        server.stop()
    auth_file = tmp_path / "mongo.auth"
    record = json.loads(auth_file.read_text())
    auth_file.write_text(json.dumps({**record, "password": "not-the-one"}))
    from crm.errors import Unavailable

    with pytest.raises(Unavailable) as wrong:
        EmbeddedServer(tmp_path).ensure()
    assert "refuses the password in" in str(wrong.value) and "delete that file" in str(wrong.value)
    auth_file.unlink()  # what the message says to do: the user gets a new password
    server = EmbeddedServer(tmp_path)
    try:
        with pymongo.MongoClient(server.ensure().uri) as client:
            assert client.crm.customers.count_documents({}) == 1
        assert json.loads(auth_file.read_text())["password"] != record["password"]
    finally:
        server.stop()


def test_db_status_masks_the_password(crm_env, mongo_server):
    _, info = mongo_server
    out = subprocess.run(
        [sys.executable, "-m", "crm", "db", "status"],
        cwd=ROOT,
        env={**os.environ, **crm_env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert info.credentials.password not in out
    assert "crm:****@" in json.loads(out.strip().splitlines()[-1])["uri"]


def _answers(uri: str) -> bool:
    try:
        with pymongo.MongoClient(uri, serverSelectionTimeoutMS=300) as client:
            client.admin.command("ping")
        return True
    except pymongo.errors.PyMongoError:
        return False
