"""Redis Streams mode against the real Redis on 127.0.0.1:6379 and the real embedded database.

Each test uses key names under a prefix of its own and deletes them afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid

import httpx
import pytest
import redis

from crm.config import load_settings
from crm.ingest.redis_queue import StreamKeys
from crm.ingest.streams import Worker
from tests.support import ROOT, wait_for

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_mode(crm_env, monkeypatch):
    """Redis settings for this test (also seen by child processes), keys cleaned up after."""
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"these tests need Redis on 127.0.0.1:6379: {exc}")
    for name, value in {
        "REDIS_URL": REDIS_URL,
        "CRM_STREAM_PREFIX": prefix,
        "CRM_STREAM_CLAIM_IDLE_MS": "300",
        "CRM_STREAM_MAX_ATTEMPTS": "3",
    }.items():
        monkeypatch.setenv(name, value)
        crm_env[name] = value
    yield client, StreamKeys(prefix)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def queued_api(redis_mode, start_api):
    return start_api(api_rate_per_second=10_000, api_rate_burst=10_000)


@pytest.fixture
def worker(redis_mode, db):
    w = Worker.from_settings(db, load_settings(), block_ms=50)
    w.ensure_group()
    return w


def post(api, key, kind, items):
    return httpx.post(f"{api.url}/api/v1/{kind}", json=items, headers={"Authorization": f"Bearer {key}"}, timeout=120)


def drain(worker: Worker, client: redis.Redis, keys: StreamKeys, timeout: float = 60) -> None:
    """Run the worker until the stream has no entries left, pending or new."""

    def empty():
        worker.step()
        return client.xlen(keys.stream) == 0

    wait_for(empty, timeout, "the worker to drain the stream")


def orders(n, customers=10, start=0):
    return [
        {
            "order_id": f"O{i}",
            "customer_id": f"C{i % customers}",
            "amount": f"{i % 1000}.{i % 100:02d}",
            "order_date": "2024-05-01",
        }
        for i in range(start, start + n)
    ]


def customers(n):
    return [{"customer_id": f"C{i}", "name": f"Customer {i}"} for i in range(n)]


def test_queued_batches_get_202_and_the_worker_writes_them(queued_api, api_key, worker, redis_mode, db):
    client, keys = redis_mode
    accepted = post(queued_api, api_key, "customers", customers(10))
    assert accepted.status_code == 202
    assert accepted.json()["queued"] == 10 and client.xlen(keys.stream) == 1
    # Orders for customers still in the queue are accepted: they are known to be coming.
    assert post(queued_api, api_key, "orders", orders(30)).status_code == 202
    assert db.customers.count_documents({}) == 0

    drain(worker, client, keys)

    assert db.customers.count_documents({}) == 10 and db.orders.count_documents({}) == 30
    assert client.xpending(keys.stream, keys.group)["pending"] == 0
    assert client.scard(keys.queued_customers) == 0


def test_invalid_batches_are_refused_before_queueing(queued_api, api_key, redis_mode, db):
    client, keys = redis_mode
    bad = post(queued_api, api_key, "orders", [orders(1)[0], {**orders(1)[0], "order_id": "x", "amount": -1}])
    assert bad.status_code == 422
    assert [(d["index"], d["field"]) for d in bad.json()["error"]["details"]] == [(0, "customer_id"), (1, "amount")]
    unknown = post(queued_api, api_key, "orders", orders(1, start=7))
    assert unknown.status_code == 422
    assert unknown.json()["error"]["details"] == [
        {"index": 0, "field": "customer_id", "reason": "unknown customer 'C7': import the customer first"}
    ]
    assert client.exists(keys.stream) == 0 or client.xlen(keys.stream) == 0


def test_health_reports_redis(queued_api):
    assert httpx.get(queued_api.url + "/healthz").json() == {"status": "ok", "database": "ok", "redis": "ok"}


@pytest.mark.slow
def test_worker_killed_mid_batch_loses_nothing_and_duplicates_nothing(queued_api, api_key, redis_mode, db, crm_env):
    client, keys = redis_mode
    assert post(queued_api, api_key, "customers", customers(50)).status_code == 202
    total = 0
    for batch in range(30):
        assert post(queued_api, api_key, "orders", orders(200, 50, start=batch * 200)).status_code == 202
        total += 200
    env = {**os.environ, **crm_env}

    first = subprocess.Popen(
        [sys.executable, "-m", "crm", "worker"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: db.orders.count_documents({}) > 0, 120, "the first worker to write something")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    written_before_restart = db.orders.count_documents({})
    assert written_before_restart < total, "the worker finished before it could be killed"
    assert client.xlen(keys.stream) > 0

    second = subprocess.Popen(
        [sys.executable, "-m", "crm", "worker"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: client.xlen(keys.stream) == 0, 240, "the restarted worker to drain the stream")
    finally:
        second.terminate()
        second.wait(30)

    assert db.orders.count_documents({}) == total
    ids = [d["order_id"] for d in db.orders.find({}, {"order_id": 1})]
    assert len(ids) == len(set(ids)) == total
    assert {d["order_id"]: d["amount"] for d in db.orders.find({"order_id": {"$in": ["O0", "O5999"]}})} == {
        "O0": 0,
        "O5999": 99999,
    }
    assert client.xpending(keys.stream, keys.group)["pending"] == 0
    assert client.xlen(keys.dead_letter) == 0


def test_a_poison_batch_is_dead_lettered_and_the_rest_go_through(queued_api, api_key, worker, redis_mode, db):
    client, keys = redis_mode
    post(queued_api, api_key, "customers", customers(3))
    drain(worker, client, keys)
    assert post(queued_api, api_key, "orders", orders(5, 2)).status_code == 202
    poison = post(queued_api, api_key, "orders", [{**orders(1)[0], "order_id": "P1", "customer_id": "C2"}])
    assert post(queued_api, api_key, "orders", orders(5, 2, start=100)).status_code == 202
    # Accepted while the customer existed; deleted before the worker got to it.
    db.customers.delete_one({"customer_id": "C2"})

    drain(worker, client, keys)

    dead = client.xrange(keys.dead_letter)
    assert len(dead) == 1
    fields = dead[0][1]
    assert fields["original_id"] == poison.json()["entry_id"]
    assert "unknown customer 'C2'" in fields["error"] and fields["attempts"] == "3"
    assert json.loads(fields["rows"])[0]["order_id"] == "P1"
    assert db.orders.count_documents({"order_id": "P1"}) == 0
    assert db.orders.count_documents({}) == 10


def test_a_corrupt_entry_is_dead_lettered_at_once(worker, redis_mode, db):
    client, keys = redis_mode
    db.customers.insert_one({"customer_id": "C0"})
    client.xadd(keys.stream, {"kind": "orders", "rows": "{not json"})
    client.xadd(keys.stream, {"kind": "orders", "rows": json.dumps(orders(2, 1))})
    client.xadd(keys.stream, {"kind": "orders", "rows": json.dumps([{"order_id": "X", "amount": -3}])})

    drain(worker, client, keys)

    errors = [fields["error"] for _, fields in client.xrange(keys.dead_letter)]
    assert len(errors) == 2 and "not JSON" in errors[0] and "invalid item" in errors[1]
    assert all(fields["attempts"] == "1" for _, fields in client.xrange(keys.dead_letter))
    assert db.orders.count_documents({}) == 2


def test_deadletter_list_and_replay_commands(queued_api, api_key, worker, redis_mode, db, cli):
    client, keys = redis_mode
    post(queued_api, api_key, "customers", customers(1))
    drain(worker, client, keys)
    post(queued_api, api_key, "orders", orders(3, 1))
    db.customers.delete_many({})
    drain(worker, client, keys)

    listed = cli("deadletter", "list", check=True).stdout.strip().splitlines()
    entry = json.loads(listed[0])
    assert len(listed) == 1 and entry["kind"] == "orders" and "rows" not in entry

    db.customers.insert_one({"customer_id": "C0"})  # the missing customer arrives after all
    replayed = json.loads(cli("deadletter", "replay", entry["id"], check=True).stdout.strip().splitlines()[-1])
    assert replayed["replayed"] == 1
    drain(worker, client, keys)

    assert db.orders.count_documents({}) == 3
    assert "is empty" in cli("deadletter", "list", check=True).stdout
    missing = cli("deadletter", "replay", "0-1")
    assert missing.returncode == 2 and "no dead-letter entry" in missing.stderr


def test_two_versions_of_a_record_in_a_row_are_written_in_order_and_unicode_survives_the_queue(
    queued_api, api_key, worker, redis_mode, db
):
    client, keys = redis_mode
    post(queued_api, api_key, "customers", {"customer_id": "C1", "name": "First", "city": "Pune"})
    post(queued_api, api_key, "customers", {"customer_id": "C1", "name": "Second"})  # city not sent: kept
    post(queued_api, api_key, "customers", {"customer_id": "यूनि-2", "name": "Zoë 李 अनन्या 😀"})

    drain(worker, client, keys)

    stored = db.customers.find_one({"customer_id": "C1"})
    assert (stored["name"], stored["city"]) == ("Second", "Pune")
    assert db.customers.find_one({"customer_id": "यूनि-2"})["name"] == "Zoë 李 अनन्या 😀"
    assert db.customers.count_documents({}) == 2


# --- erasure and the queue ------------------------------------------------------------------


def erase(db, customer_id):
    from crm.auth import CLI
    from crm.ingest.erasure import erase_customer

    return erase_customer(db, customer_id, by=CLI)


def dead_letter(client, keys, kind, rows):
    """A batch parked as the worker parks one (rows as sent, accepted a moment ago)."""
    client.xadd(
        keys.dead_letter,
        {
            "original_id": "1-0",
            "kind": kind,
            "rows": json.dumps(rows),
            "count": str(len(rows)),
            "accepted_at": _accepted_now(),
            "source": "k",
            "error": "scripted failure",
            "attempts": "3",
            "failed_at": _accepted_now(),
        },
    )


def _accepted_now():
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="milliseconds")


def test_a_customer_erased_while_their_update_and_orders_wait_in_the_stream_does_not_come_back(
    queued_api, api_key, worker, redis_mode, db
):
    client, keys = redis_mode
    post(queued_api, api_key, "customers", customers(3))
    drain(worker, client, keys)
    assert (
        post(
            queued_api,
            api_key,
            "customers",
            [{"customer_id": "C1", "name": "New name"}, {"customer_id": "C2", "name": "Also new"}],
        ).status_code
        == 202
    )
    assert post(queued_api, api_key, "orders", orders(6, 3)).status_code == 202  # C0, C1, C2 twice each

    erase(db, "C1")
    drain(worker, client, keys)

    assert db.customers.count_documents({"customer_id": "C1"}) == 0
    assert db.orders.count_documents({"customer_id": "C1"}) == 0
    assert db.customers.find_one({"customer_id": "C2"})["name"] == "Also new"  # the rest is written
    assert db.orders.count_documents({}) == 4
    assert worker.stats.dropped_erased == 3  # C1's update and two orders
    assert client.xlen(keys.dead_letter) == 0  # dropped, not parked (with their data) as failures
    assert client.xpending(keys.stream, keys.group)["pending"] == 0

    # Sent again after the erasure, the customer is a new import and is written.
    assert post(queued_api, api_key, "customers", {"customer_id": "C1", "name": "Back"}).status_code == 202
    drain(worker, client, keys)
    assert db.customers.find_one({"customer_id": "C1"})["name"] == "Back"


def test_a_customer_only_queued_so_far_can_be_erased_and_is_never_written(queued_api, api_key, worker, redis_mode, db):
    client, keys = redis_mode
    assert post(queued_api, api_key, "customers", customers(3)).status_code == 202

    report = erase(db, "C1")
    drain(worker, client, keys)

    assert report.customer_id == "C1"
    assert sorted(d["customer_id"] for d in db.customers.find()) == ["C0", "C2"]
    assert client.scard(keys.queued_customers) == 0


def test_erasure_takes_the_customer_out_of_dead_letters_and_a_replay_cannot_bring_them_back(
    worker, redis_mode, db, cli
):
    from crm.ingest.dead_letters import replay_dead_letters

    client, keys = redis_mode
    db.customers.insert_many([{"customer_id": "C1", "name": "Customer 1"}, {"customer_id": "C2"}])
    dead_letter(
        client,
        keys,
        "customers",
        [{"customer_id": "C1", "name": "Secret", "email": "c1@example.com"}, {"customer_id": "C2", "name": "Kept"}],
    )
    dead_letter(
        client, keys, "orders", [{"order_id": "O1", "customer_id": " C1 ", "amount": "5", "order_date": "2024-05-01"}]
    )

    erase(db, "C1")

    parked = client.xrange(keys.dead_letter)
    assert len(parked) == 1  # the orders entry held only C1: gone
    assert [r["customer_id"] for r in json.loads(parked[0][1]["rows"])] == ["C2"]
    assert "Secret" not in json.dumps(parked) and "c1@example.com" not in json.dumps(parked)
    replay_dead_letters(client, keys)
    drain(worker, client, keys)
    assert db.customers.count_documents({"customer_id": "C1"}) == 0
    assert db.customers.find_one({"customer_id": "C2"})["name"] == "Kept"


def test_a_customer_found_only_in_dead_letters_can_be_erased(worker, redis_mode, db):
    client, keys = redis_mode
    dead_letter(client, keys, "customers", [{"customer_id": "C9", "name": "Never written"}])

    erase(db, "C9")

    assert client.xlen(keys.dead_letter) == 0
    assert db.erasures.count_documents({"customer_id": "C9"}) == 1


def test_a_replayed_batch_accepted_before_an_erasure_is_still_dropped(worker, redis_mode, db):
    # Dead-lettered before the erasure, replayed after it by someone who did not scrub it (a
    # replay racing the erasure): the worker checks the batch's original acceptance time.
    from crm.ingest.dead_letters import replay_dead_letters
    from crm.ingest.erasure import ERASURES
    from crm.store.clock import utc_now

    client, keys = redis_mode
    dead_letter(client, keys, "customers", [{"customer_id": "C1", "name": "Old"}])
    db[ERASURES].insert_one({"customer_id": "C1", "erased_at": utc_now()})
    replay_dead_letters(client, keys)

    drain(worker, client, keys)

    assert db.customers.count_documents({"customer_id": "C1"}) == 0
    assert worker.stats.dropped_erased == 1


def test_a_customer_erased_while_the_worker_writes_their_batch_is_erased_again(
    queued_api, api_key, worker, redis_mode, db, monkeypatch
):
    from crm.ingest import streams

    client, keys = redis_mode
    post(queued_api, api_key, "customers", customers(2))
    drain(worker, client, keys)
    post(
        queued_api,
        api_key,
        "customers",
        [{"customer_id": "C1", "name": "Update"}, {"customer_id": "C0", "name": "Kept"}],
    )
    real_write = streams.write_records

    def erased_just_before_the_write(db_, kind, records, **kwargs):
        # The worker has already looked for erasures; the erasure lands before its write does.
        if kind == "customers" and db_.erasures.count_documents({}) == 0:
            erase(db_, "C1")
        return real_write(db_, kind, records, **kwargs)

    monkeypatch.setattr(streams, "write_records", erased_just_before_the_write)
    drain(worker, client, keys)

    assert db.customers.count_documents({"customer_id": "C1"}) == 0
    assert db.customers.find_one({"customer_id": "C0"})["name"] == "Kept"
    assert client.xpending(keys.stream, keys.group)["pending"] == 0
