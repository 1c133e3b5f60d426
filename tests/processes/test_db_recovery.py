"""The API lives through a crash or a wedge of its embedded database: it answers 503 with
Retry-After at once, its process restarts the database by itself, and nothing acknowledged is lost."""

from __future__ import annotations

import dataclasses
import itertools
import os
import signal
import threading
import time

import httpx
import pymongo
import pytest

from crm import store
from crm.auth.api_keys import create_key
from crm.config import load_settings
from crm.store.embedded import EmbeddedServer
from tests.api_fixtures import LiveAPI
from tests.db_process import start_api
from tests.support import stop_gently, wait_for

pytestmark = pytest.mark.slow  # servers started and killed in child processes

# A 503 must come from the short server-selection timeout (2 s), not pymongo's 30 s default.
FAST_SECONDS = 5
CLIENTS = 4


@pytest.fixture
def api(tmp_path):
    # The per-key rate limit is not under test: a fast machine's ingest loop would pass 50/s.
    api = start_api(
        tmp_path / "data", CRM_DB_WEDGED_SECONDS="2", CRM_API_RATE_PER_SECOND="100000", CRM_API_RATE_BURST="100000"
    )
    yield api
    stop_gently(api.process)
    server_pid = api.server()["server_pid"] if (api.data_dir / "mongo.json").exists() else None
    if server_pid:
        wait_for(lambda: not _alive(server_pid), 30, "the database to stop with its owner")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def test_database_killed_under_an_ingest_loop_gives_fast_503s_then_recovers_with_nothing_lost(api):
    key = create_key(api.db(), "recovery")[1]
    first_server = api.server()["server_pid"]
    lock, counter = threading.Lock(), itertools.count()
    acknowledged, unavailable, others = [], [], []
    recovered, done = threading.Event(), threading.Event()
    times = {}

    def loop() -> None:  # one client posting batches of 10 new customers, as fast as answered
        with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
            while not done.is_set():
                batch = next(counter)
                ids = [f"R{batch:05d}-{i}" for i in range(10)]
                started = time.monotonic()
                response = http.post("/api/v1/customers", json=[{"customer_id": i} for i in ids])
                took = time.monotonic() - started
                with lock:
                    if response.status_code == 200:
                        acknowledged.extend(ids)
                        if unavailable and not recovered.is_set():
                            times["recovered"] = time.monotonic()
                            recovered.set()
                    elif response.status_code == 503:
                        unavailable.append((took, response.headers.get("retry-after"), response.json()))
                    else:
                        others.append((response.status_code, response.text[:300]))

    clients = [threading.Thread(target=loop) for _ in range(CLIENTS)]
    for client in clients:
        client.start()
    try:
        wait_for(lambda: len(acknowledged) >= 300, 60, "writes before the kill")
        # Holding the data dir's start lock keeps the restart waiting until the clients have seen
        # the outage; a restart quicker than pymongo's retry would otherwise hide it.
        with EmbeddedServer(api.data_dir).locked():
            os.kill(first_server, signal.SIGKILL)
            times["killed"], at_kill = time.monotonic(), len(acknowledged)
            wait_for(lambda: len(unavailable) >= CLIENTS, 60, "503s while the database is down")
        recovered.wait(120)
        wait_for(lambda: len(acknowledged) >= at_kill + 600 or not recovered.is_set(), 120, "writes after")
    finally:
        done.set()
        for client in clients:
            client.join(120)
    assert not others, f"answers other than 200 and 503: {others[:5]}"
    assert unavailable, "the kill must be seen by the clients as 503s"
    assert recovered.is_set(), f"the API did not recover within 120 s ({len(unavailable)} 503s)"
    slowest = max(took for took, _, _ in unavailable)
    assert slowest < FAST_SECONDS, f"a 503 took {slowest:.1f} s"
    for _, retry_after, body in unavailable:
        assert retry_after and int(retry_after) > 0
        assert body["error"]["code"] == "unavailable"
        assert "127.0.0.1" not in str(body) and "Error" not in str(body)  # no internals
    assert api.process.poll() is None  # recovered without a restart of the API
    assert api.server()["server_pid"] != first_server and api.server()["owner_pid"] == api.process.pid
    stored = api.db().customers.count_documents({"customer_id": {"$in": acknowledged}})
    print(
        f"\nkill -9 of the database under {CLIENTS} ingest clients: {len(acknowledged)} acknowledged, "
        f"{stored} stored, {len(unavailable)} answered 503 (slowest {slowest:.2f} s), "
        f"writes again {times['recovered'] - times['killed']:.1f} s after the kill"
    )
    assert stored == len(acknowledged)
    assert api.health() == 200


def test_a_hung_database_makes_healthz_503_fast_and_is_restarted_by_its_owner(api):
    hung = api.server()["server_pid"]
    os.kill(hung, signal.SIGSTOP)  # alive, answering nothing: as a wedged server
    try:
        started = time.monotonic()
        response = httpx.get(api.url + "/healthz", timeout=60)
        assert time.monotonic() - started < 10
        assert response.status_code == 503 and response.headers["retry-after"]
        error = response.json()["error"]
        assert error["code"] == "unavailable"
        assert error["details"] == [
            {"index": None, "field": "database", "reason": "the database did not accept a write"}
        ]
        wait_for(lambda: api.health() == 200, 60, "the owner to replace the hung database")
    finally:
        if _alive(hung):
            os.kill(hung, signal.SIGKILL)
    wait_for(lambda: (api.data_dir / "mongo.json").exists(), 30, "the new server's record")
    assert api.server()["server_pid"] != hung and api.process.poll() is None
    assert "restarting it" in api.output()


@pytest.fixture
def failing_server(tmp_path, monkeypatch):
    """An embedded server owned by this process (watchdog on, 2 s to call it wedged) that accepts
    failpoints, and the API on it."""
    monkeypatch.setenv("CRM_DB_TEST_COMMANDS", "1")
    server = EmbeddedServer(tmp_path / "data", wedged_seconds=2)
    info = server.ensure()
    settings = dataclasses.replace(
        load_settings(), data_dir=server.data_dir, mongodb_uri=None, db_name="failing", redis_url=None
    )
    store.reset()
    live = LiveAPI(settings).start()
    yield server, info, live, settings
    live.stop()
    store.reset()
    server.stop()


def test_a_database_that_answers_ping_but_fails_writes_is_unhealthy_then_restarted(failing_server):
    server, info, live, settings = failing_server
    key = create_key(store.get_db(settings), "panic")[1]
    assert httpx.get(live.url + "/healthz").status_code == 200
    admin = pymongo.MongoClient(info.uri, serverSelectionTimeoutMS=5000)
    # As a storage panic after a full disk: every read and write fails, ping still answers.
    admin.admin.command(
        {
            "configureFailPoint": "failCommand",
            "mode": "alwaysOn",
            "data": {"failCommands": ["insert", "update", "find", "findAndModify"], "errorCode": 1},
        }
    )
    try:
        assert admin.admin.command("ping")["ok"] == 1
        health = httpx.get(live.url + "/healthz")
        assert health.status_code == 503 and health.headers["retry-after"]
        assert health.json()["error"]["details"] == [
            {"index": None, "field": "database", "reason": "the database did not accept a write"}
        ]
        ingest = httpx.post(
            live.url + "/api/v1/customers", json={"customer_id": "P1"}, headers={"Authorization": f"Bearer {key}"}
        )
        assert ingest.status_code == 503 and ingest.headers["retry-after"]
        assert ingest.json()["error"]["code"] == "unavailable"
        # Nobody restarts anything: the owner's watchdog replaces the failing server.
        wait_for(lambda: httpx.get(live.url + "/healthz").status_code == 200, 60, "the watchdog's restart")
    finally:
        admin.close()
    assert server.read_info().server_pid != info.server_pid and server.read_info().port == info.port
    ingest = httpx.post(
        live.url + "/api/v1/customers", json={"customer_id": "P1"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert ingest.json() == {"inserted": 1, "updated": 0, "unchanged": 0}
