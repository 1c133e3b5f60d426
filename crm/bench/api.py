"""Accepted orders/s over HTTP: batches of 1 and of 1,000, direct vs Redis mode.

The API (`python -m crm api`) and, in Redis mode, the worker run as their own processes on a
fresh embedded database; a load generator (asyncio + httpx, `crm.bench.api_load`) drives them
over loopback from a third process. For each run: accepted orders/s (until the last response)
and the time until every order is in MongoDB. Ratios are against direct mode with batches of 1,
measured in the same run. A phase profile of the same work in-process names the bottleneck.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH_CUSTOMER_PREFIX = "B"


def add_arguments(parser) -> None:
    parser.add_argument("--single", type=int, default=500, help="orders sent one per request (default 500)")
    parser.add_argument("--bulk", type=int, default=10_000, help="orders sent 1,000 per request (default 10000)")
    parser.add_argument("--customers", type=int, default=1000, help="customers the orders belong to")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(condition, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise RuntimeError(f"timed out waiting for {what}")


class Services:
    """The API process (and the worker in Redis mode) for one mode."""

    def __init__(self, env: dict, redis_mode: bool, log_dir: Path):
        self.env, self.redis_mode, self.log_dir = env, redis_mode, log_dir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: list[subprocess.Popen] = []

    def __enter__(self) -> Services:
        import httpx

        def spawn(*args):
            log = open(self.log_dir / f"{args[0]}-{'redis' if self.redis_mode else 'direct'}.log", "w")
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "crm", *args], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
                )
            )

        spawn("api", "--port", str(self.port))
        if self.redis_mode:
            spawn("worker")

        def answers():
            if self.processes[0].poll() is not None:
                raise RuntimeError("the API process exited")
            try:
                return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        _wait(answers, 60, "the API")
        return self

    def all_written(self) -> bool:
        if not self.redis_mode:
            return True
        import redis

        from crm.ingest.redis_queue import StreamKeys

        client = redis.Redis.from_url(self.env["REDIS_URL"])
        try:
            return client.xlen(StreamKeys(self.env["CRM_STREAM_PREFIX"]).stream) == 0
        finally:
            client.close()

    def __exit__(self, *exc) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def _drive(
    services: Services, key: str, prefix: str, total: int, batch: int, customers: int, concurrency: int, db
) -> dict:
    before = db.orders.count_documents({})
    output = subprocess.run(
        [
            sys.executable,
            "-m",
            "crm.bench.api_load",
            "--url",
            services.url,
            "--key",
            key,
            "--prefix",
            prefix,
            "--total",
            str(total),
            "--batch",
            str(batch),
            "--customers",
            str(customers),
            "--concurrency",
            str(concurrency),
        ],
        cwd=ROOT,
        env=services.env,
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    load = json.loads(output.stdout.strip().splitlines()[-1])
    accepted = sum(n for status, n in load["statuses"].items() if status in ("200", "202"))
    if accepted != load["requests"]:
        raise RuntimeError(f"some requests were refused: {load['statuses']}")
    # Written means: answered 200 (direct), or acknowledged and deleted from the stream by the
    # worker (Redis). Polling Redis is cheap; counting in MongoDB is not (about 1.5 s per 20,000
    # documents on the embedded server) and would slow the very writes being timed.
    _wait(services.all_written, 1800, "all orders in MongoDB", 0.02)
    stored = time.time()
    in_mongodb = db.orders.count_documents({}) - before
    if in_mongodb != total:
        raise RuntimeError(f"{in_mongodb} of {total} orders are in MongoDB")
    accept_seconds = load["ended"] - load["started"]
    return {
        "orders": total,
        "requests": load["requests"],
        "accept_seconds": round(accept_seconds, 3),
        "accepted_orders_per_s": round(total / accept_seconds),
        "all_in_mongodb_seconds": round(stored - load["started"], 3),
        "stored_orders_per_s": round(total / (stored - load["started"])),
    }


def _phases(db, key: str, batch: int, prefix: str, customers: int) -> dict:
    from crm.auth.api_keys import verify_key
    from crm.bench.api_load import order_batches
    from crm.ingest.records import check_customers_exist, validate_records
    from crm.ingest.writer import write_records

    bodies = order_batches(prefix, batch * 20 if batch == 1 else batch * 2, batch, customers)
    timings = {"parse_json": 0.0, "auth_lookup": 0.0, "validate": 0.0, "check_customers": 0.0, "write": 0.0}
    for body in bodies:
        t0 = time.perf_counter()
        rows = json.loads(body)
        rows = rows if isinstance(rows, list) else [rows]
        t1 = time.perf_counter()
        verify_key(db, key)
        t2 = time.perf_counter()
        result = validate_records("orders", rows, first_row=0)
        t3 = time.perf_counter()
        check_customers_exist(db, result.valid, result.rows)
        t4 = time.perf_counter()
        write_records(db, "orders", result.valid)
        t5 = time.perf_counter()
        for name, seconds in zip(timings, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            timings[name] += seconds
    total = sum(timings.values())
    per_request_ms = {name: round(1000 * s / len(bodies), 3) for name, s in timings.items()}
    return {
        "per_request_ms": per_request_ms,
        "share": {name: round(s / total, 3) for name, s in timings.items()},
        "largest": max(timings, key=lambda name: timings[name]),
    }


def _in_query_probe(db, customers: int) -> dict:
    """The customer check asks `$in` with up to 1,000 ids at once; compare with chunks of 100."""
    ids = [f"{BENCH_CUSTOMER_PREFIX}{i}" for i in range(min(customers, 1000))]

    def found(chunk: int) -> tuple[int, float]:
        started = time.perf_counter()
        n = sum(
            len(list(db.customers.find({"customer_id": {"$in": ids[k : k + chunk]}}, {"customer_id": 1, "_id": 0})))
            for k in range(0, len(ids), chunk)
        )
        return n, time.perf_counter() - started

    (n_one, one), (n_chunked, chunked) = found(len(ids)), found(100)
    assert n_one == n_chunked == len(ids)
    return {
        "ids": len(ids),
        "one_query_ms": round(one * 1000, 1),
        "chunks_of_100_ms": round(chunked * 1000, 1),
        "ratio_one_over_chunked": round(one / chunked, 2),
    }


def _failures(log: Path) -> list[str]:
    """The worker's failed attempts (each costs CRM_STREAM_CLAIM_IDLE_MS before the retry)."""
    return [line.strip()[:300] for line in log.read_text(errors="replace").splitlines() if "failed (attempt" in line]


def _redis_available() -> str | None:
    import redis

    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        return url
    except redis.RedisError:
        return None


def run(args) -> dict:
    from crm import store
    from crm.auth.api_keys import create_key
    from crm.config import load_settings
    from crm.ingest.records import validate_records
    from crm.ingest.writer import write_records

    suffix = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="crm-bench-api-") as tmp:
        os.environ["CRM_DB_NAME"] = f"bench_api_{suffix}"
        if not load_settings().mongodb_uri:
            os.environ["CRM_DATA_DIR"] = str(Path(tmp) / "data")
        store.reset()
        db = store.get_db()
        redis_url = _redis_available()
        prefix = f"bench:{suffix}:"
        try:
            people = validate_records(
                "customers",
                [{"customer_id": f"{BENCH_CUSTOMER_PREFIX}{i}"} for i in range(args.customers)],
                first_row=0,
            ).valid
            write_records(db, "customers", people)
            key = create_key(db, "bench")[1]
            env = {
                **os.environ,
                "CRM_API_RATE_PER_SECOND": "1000000",
                "CRM_API_RATE_BURST": "1000000",
                "CRM_STREAM_PREFIX": prefix,
            }
            env.pop("REDIS_URL", None)
            modes = {"direct": env}
            if redis_url:
                modes["redis"] = {**env, "REDIS_URL": redis_url}
            results: dict = {}
            worker_failures: list[str] = []
            for mode, mode_env in modes.items():
                with Services(mode_env, mode == "redis", Path(tmp)) as services:
                    results[mode] = {
                        "batch_1": _drive(
                            services, key, f"{mode}-1-", args.single, 1, args.customers, args.concurrency, db
                        ),
                        "batch_1000": _drive(
                            services, key, f"{mode}-1000-", args.bulk, 1000, args.customers, args.concurrency, db
                        ),
                    }
                if mode == "redis":
                    worker_failures = _failures(Path(tmp) / "worker-redis.log")
            baseline = results["direct"]["batch_1"]["accepted_orders_per_s"]
            ratios = {
                f"{mode}_{size}_accepted_vs_direct_batch_1": round(run["accepted_orders_per_s"] / baseline, 2)
                for mode, sizes in results.items()
                for size, run in sizes.items()
            }
            profile = {
                "batch_1": _phases(db, key, 1, "prof-1-", args.customers),
                "batch_1000": _phases(db, key, 1000, "prof-1000-", args.customers),
            }
            probe = _in_query_probe(db, args.customers)
        finally:
            if redis_url:
                import redis

                client = redis.Redis.from_url(redis_url)
                stale = list(client.scan_iter(match=prefix + "*"))
                if stale:
                    client.delete(*stale)
            db.client.drop_database(db.name)
            store.reset()
            store.embedded_server().stop()
    return {
        "load_generator": "asyncio + httpx in a separate process, loopback",
        "concurrency": args.concurrency,
        "customers": args.customers,
        "redis_mode": "measured" if redis_url else "skipped: no Redis answered",
        **results,
        "ratios": ratios,
        "profile_in_process": profile,
        "customer_in_query": probe,
        "worker_failed_attempts": worker_failures,
        "bottleneck": {
            size: f"{p['largest']} ({round(100 * p['share'][p['largest']])}% of a request's time)"
            for size, p in profile.items()
        },
    }
