"""`python -m crm bench api` at a tiny size: it runs end to end and prints its figures as JSON."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_bench_api_prints_rates_ratios_and_the_bottleneck(run_cli, redis_mode_available):
    result = run_cli(
        "bench",
        "api",
        "--single",
        "5",
        "--bulk",
        "1000",
        "--customers",
        "5",
        "--concurrency",
        "2",
        check=True,
        timeout=600,
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["bench"] == "api"
    for mode in ("direct", "redis"):
        for size, orders in (("batch_1", 5), ("batch_1000", 1000)):
            run = figures[mode][size]
            assert run["orders"] == orders and run["accepted_orders_per_s"] > 0
            assert run["all_in_mongodb_seconds"] >= run["accept_seconds"] * 0.99
    assert figures["ratios"]["direct_batch_1_accepted_vs_direct_batch_1"] == 1.0
    assert set(figures["bottleneck"]) == {"batch_1", "batch_1000"}
    assert figures["worker_failed_attempts"] == []


@pytest.fixture
def redis_mode_available():
    import redis

    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"the benchmark's Redis mode needs Redis on 127.0.0.1:6379: {exc}")
