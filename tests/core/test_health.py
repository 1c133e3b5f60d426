"""/healthz and 503s tell callers which dependency is down in plain words, never its address."""

from __future__ import annotations

import httpx

from tests.support import free_port


def test_redis_down_gives_plain_503s_with_retry_after_and_no_address(start_api, api_key):
    closed = free_port()  # nothing listens there once the probe socket is closed
    api = start_api(redis_url=f"redis://127.0.0.1:{closed}/0")
    health = httpx.get(api.url + "/healthz")
    assert health.status_code == 503 and health.headers["retry-after"]
    assert health.json()["error"] == {
        "code": "unavailable",
        "message": "Redis is unavailable",
        "details": [{"index": None, "field": "redis", "reason": "Redis does not answer"}],
    }
    ingest = httpx.post(
        api.url + "/api/v1/customers", json={"customer_id": "Q1"}, headers={"Authorization": f"Bearer {api_key}"}
    )
    assert ingest.status_code == 503 and ingest.headers["retry-after"]
    error = ingest.json()["error"]
    assert error["code"] == "unavailable" and error["message"].startswith("the queue (Redis) is not answering")
    assert str(closed) not in ingest.text + health.text and "Error" not in ingest.text + health.text
