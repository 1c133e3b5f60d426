"""The ingestion API over real HTTP (uvicorn on a free port) against the real embedded database."""

from __future__ import annotations

import httpx
import pytest

from crm.auth.api_keys import revoke_key

CUSTOMERS = [
    {"customer_id": "C-1", "name": "Asha Verma", "email": "Asha@Example.com", "city": "Mumbai", "tags": ["vip"]},
    {"customer_id": "C-2", "name": "Ravi Nair", "city": "Pune"},
]
ORDERS = [
    {"order_id": "O-1", "customer_id": "C-1", "amount": 1299.5, "order_date": "2024-03-01"},
    {
        "order_id": "O-2",
        "customer_id": "C-1",
        "amount": "200",
        "status": "refunded",
        "order_date": "2024-03-05T10:00:00+05:30",
    },
    {"order_id": "O-3", "customer_id": "C-2", "amount": 0, "order_date": "2024-02-01"},
]


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code and body["error"]["message"]
    return body["error"]


def test_customers_and_orders_are_written_and_summarised_on_the_customer(client, db):
    assert client.post("/api/v1/customers", json=CUSTOMERS).json() == {"inserted": 2, "updated": 0, "unchanged": 0}
    assert client.post("/api/v1/orders", json=ORDERS).json() == {"inserted": 3, "updated": 0, "unchanged": 0}

    view = client.get("/api/v1/customers/C-1").json()
    assert view["customer"]["email"] == "asha@example.com" and view["customer"]["tags"] == ["vip"]
    assert view["orders"] == {
        "count": 2,
        "completed_count": 1,
        "total_spend": "1299.50",
        "total_spend_paise": 129950,
        "currency": "INR",
        "last_order": {
            "order_id": "O-2",
            "amount": "200.00",
            "status": "refunded",
            "order_date": "2024-03-05T04:30:00+00:00",
        },
    }
    assert db.orders.find_one({"order_id": "O-1"})["amount"] == 129950


def test_one_object_is_accepted_like_a_batch_of_one(client, db):
    response = client.post("/api/v1/customers", json={"customer_id": "solo"})
    assert response.json() == {"inserted": 1, "updated": 0, "unchanged": 0}
    assert db.customers.count_documents({"customer_id": "solo"}) == 1


def test_retrying_a_request_changes_nothing(client, db):
    client.post("/api/v1/customers", json=CUSTOMERS)
    first = client.post("/api/v1/orders", json=ORDERS)
    stamps = {d["order_id"]: d["updated_at"] for d in db.orders.find()}

    again = client.post("/api/v1/orders", json=ORDERS)

    assert first.json()["inserted"] == 3
    assert again.json() == {"inserted": 0, "updated": 0, "unchanged": 3}
    assert db.orders.count_documents({}) == 3
    assert {d["order_id"]: d["updated_at"] for d in db.orders.find()} == stamps


def test_a_changed_record_is_updated_in_place(client, db):
    client.post("/api/v1/customers", json=CUSTOMERS)
    response = client.post("/api/v1/customers", json=[{**CUSTOMERS[0], "city": "Delhi"}, CUSTOMERS[1]])
    assert response.json() == {"inserted": 0, "updated": 1, "unchanged": 1}
    assert db.customers.find_one({"customer_id": "C-1"})["city"] == "Delhi"
    assert db.customers.count_documents({}) == 2


def test_unicode_text_round_trips(client):
    people = [
        {"customer_id": "यूनि-1", "name": "अनन्या शर्मा", "city": "தஞ்சாவூர்", "tags": ["प्रिय", "😀"]},
        {"customer_id": "ü-2", "name": "Zoë 李 O'Brien", "city": "São Paulo"},
    ]
    assert client.post("/api/v1/customers", json=people).json()["inserted"] == 2
    customer = client.get("/api/v1/customers/यूनि-1").json()["customer"]
    assert (customer["name"], customer["city"], customer["tags"]) == ("अनन्या शर्मा", "தஞ்சாவூர்", ["प्रिय", "😀"])
    assert client.get("/api/v1/customers/ü-2").json()["customer"]["name"] == "Zoë 李 O'Brien"


def test_a_large_valid_batch_is_written_whole(client, db):
    client.post("/api/v1/customers", json=[{"customer_id": f"C{i}"} for i in range(100)])
    orders = [
        {"order_id": f"O{i}", "customer_id": f"C{i % 100}", "amount": f"{i}.{i % 100:02d}", "order_date": "2024-01-01"}
        for i in range(5000)
    ]
    assert client.post("/api/v1/orders", json=orders).json() == {"inserted": 5000, "updated": 0, "unchanged": 0}
    assert db.orders.count_documents({}) == 5000
    assert db.orders.find_one({"order_id": "O4321"})["amount"] == 432121


@pytest.mark.parametrize(
    "item, field, words",
    [
        ({"order_id": "O-9", "customer_id": "C-1", "amount": -5, "order_date": "2024-01-01"}, "amount", "negative"),
        (
            {"order_id": "O-9", "customer_id": "C-1", "amount": "1.234", "order_date": "2024-01-01"},
            "amount",
            "2 decimals",
        ),
        ({"order_id": "O-9", "customer_id": "C-1", "amount": 5, "order_date": "yesterday"}, "order_date", "ISO 8601"),
        ({"order_id": "O-9", "customer_id": "C-1", "amount": 5}, "order_date", "required"),
        (
            {"order_id": "O-9", "customer_id": "C-1", "amount": 5, "order_date": "2024-01-01", "status": "lost"},
            "status",
            "completed",
        ),
        (
            {"order_id": "O-9", "customer_id": "C-1", "amount": 5, "order_date": "2024-01-01", "colour": "red"},
            "colour",
            "unknown field",
        ),
    ],
)
def test_an_invalid_order_is_named_by_index_and_field_and_nothing_is_written(client, db, item, field, words):
    client.post("/api/v1/customers", json=CUSTOMERS)
    response = client.post("/api/v1/orders", json=[ORDERS[0], ORDERS[2], item])
    error = assert_error(response, 422, "invalid_records")
    assert [(d["index"], d["field"]) for d in error["details"]] == [(2, field)]
    assert words.lower() in error["details"][0]["reason"].lower()
    assert db.orders.count_documents({}) == 0


def test_every_bad_item_of_a_batch_is_listed(client, db):
    batch = [
        {"customer_id": "ok"},
        {"customer_id": "bad", "email": "asha@"},
        {"name": "no id"},
        {"customer_id": "ok"},
        {"customer_id": "old", "age": 400},
    ]
    error = assert_error(client.post("/api/v1/customers", json=batch), 422, "invalid_records")
    assert [(d["index"], d["field"]) for d in error["details"]] == [
        (1, "email"),
        (2, "customer_id"),
        (3, "customer_id"),
        (4, "age"),
    ]
    assert "duplicate" in error["details"][2]["reason"]
    assert db.customers.count_documents({}) == 0


@pytest.mark.parametrize("kind", ["customers", "orders"])
def test_items_that_are_not_objects_are_named_and_nothing_is_written(client, db, kind):
    batch = [{"customer_id": "ok"}, None, 7, "c2", [], True]
    error = assert_error(client.post(f"/api/v1/{kind}", json=batch), 422, "invalid_records")
    assert [(d["index"], d["reason"].rsplit(" ", 1)[-1]) for d in error["details"]] == [
        (1, "null"),
        (2, "number"),
        (3, "string"),
        (4, "array"),
        (5, "boolean"),
    ]
    assert "5 item(s) of 6 are not objects" in error["message"]
    assert db[kind].count_documents({}) == 0


def test_an_order_for_an_unknown_customer_is_rejected_naming_it(client, db):
    client.post("/api/v1/customers", json=CUSTOMERS)
    orders = [ORDERS[0], {**ORDERS[2], "order_id": "O-7", "customer_id": "C-404"}]
    error = assert_error(client.post("/api/v1/orders", json=orders), 422, "invalid_records")
    assert error["details"] == [
        {"index": 1, "field": "customer_id", "reason": "unknown customer 'C-404': import the customer first"}
    ]
    assert db.orders.count_documents({}) == 0


@pytest.mark.parametrize(
    "item, field",
    [
        ({"customer_id": {"$gt": ""}}, "customer_id"),
        ({"customer_id": "C-1", "name": {"$ne": None}}, "name"),
        ({"customer_id": "C-1", "city": ["Mumbai"]}, "city"),
        ({"customer_id": "C-1", "$where": "sleep(1000)"}, "$where"),
        ({"customer_id": "C-1", "tags": [{"$in": ["vip"]}]}, "tags"),
    ],
)
def test_objects_and_dollar_keys_where_strings_belong_are_rejected(client, db, item, field):
    error = assert_error(client.post("/api/v1/customers", json=[item]), 422, "invalid_records")
    assert error["details"][0]["index"] == 0 and error["details"][0]["field"] == field
    assert db.customers.count_documents({}) == 0


@pytest.mark.parametrize(
    "body, status, code",
    [
        (b'{"customer_id": "C-1"', 400, "invalid_json"),
        (b'{"customer_id": NaN}', 400, "invalid_json"),
        (b'"just text"', 422, "invalid_records"),
        (b"[]", 422, "invalid_records"),
        (b"[1, 2]", 422, "invalid_records"),
    ],
)
def test_a_body_that_is_not_records_is_a_json_error(client, body, status, code):
    response = client.post("/api/v1/customers", content=body, headers={"Content-Type": "application/json"})
    assert_error(response, status, code)


def test_a_body_not_sent_as_json_is_415(client):
    response = client.post("/api/v1/customers", content=b"customer_id\nC-1\n", headers={"Content-Type": "text/csv"})
    error = assert_error(response, 415, "unsupported_media_type")
    assert error["details"][0]["field"] == "Content-Type"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer crm_not-a-real-key"},
    ],
)
def test_requests_without_a_valid_key_are_401_with_a_bearer_challenge(api, headers, db):
    for method, path in [("POST", "/api/v1/customers"), ("POST", "/api/v1/orders"), ("GET", "/api/v1/customers/C-1")]:
        response = httpx.request(method, api.url + path, headers=headers, json={"customer_id": "C-1"})
        assert_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert db.customers.count_documents({}) == 0


def test_guessing_keys_from_one_address_is_throttled_with_429_and_retry_after(start_api, api_key, db):
    api = start_api(api_key_guesses_per_minute=3)
    wrong = {"Authorization": "Bearer crm_guess-0000000000000000000000000000000000"}
    codes = [
        httpx.post(api.url + "/api/v1/customers", headers=wrong, json={"customer_id": "C-1"}).status_code
        for _ in range(5)
    ]
    assert codes == [401, 401, 401, 429, 429]
    refused = httpx.post(api.url + "/api/v1/customers", headers=wrong, json={"customer_id": "C-1"})
    assert_error(refused, 429, "rate_limited")
    assert "wrong API keys from this address" in refused.json()["error"]["message"]
    assert int(refused.headers["retry-after"]) >= 1
    assert db.customers.count_documents({}) == 0


def test_wrong_keys_sent_in_parallel_cannot_pass_the_guess_limit_together(start_api, api_key, db):
    import asyncio

    api = start_api(api_key_guesses_per_minute=3)
    wrong = {"Authorization": "Bearer crm_guess-0000000000000000000000000000000000"}

    async def guess_all() -> list[int]:
        async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
            answers = await asyncio.gather(
                *(client.post("/api/v1/customers", headers=wrong, json={"customer_id": "C-1"}) for _ in range(20))
            )
        return [a.status_code for a in answers]

    codes = asyncio.run(guess_all())
    assert sorted(codes) == [401] * 3 + [429] * 17


def test_right_keys_do_not_use_up_the_guess_limit(start_api, api_key, db):
    api = start_api(api_key_guesses_per_minute=3)
    right = {"Authorization": f"Bearer {api_key}"}
    codes = [
        httpx.post(api.url + "/api/v1/customers", headers=right, json={"customer_id": f"C-{i}"}).status_code
        for i in range(10)
    ]
    assert codes == [200] * 10


def test_the_guess_limit_forgets_addresses_whose_bucket_has_refilled():
    from crm.api.rate_limit import FORGET_EVERY, TokenBuckets

    clock = [0.0]
    buckets = TokenBuckets(rate=1.0, burst=2, clock=lambda: clock[0])
    for i in range(FORGET_EVERY - 1):
        buckets.take(f"10.0.{i // 250}.{i % 250}")
    assert buckets.tracked() == FORGET_EVERY - 1
    clock[0] += 5  # every bucket has refilled
    buckets.take("10.9.9.9")
    assert buckets.tracked() == 1
    assert buckets.take("10.9.9.9") == 0.0 and buckets.take("10.9.9.9") > 0  # the live one is still counted


def test_a_revoked_key_stops_working(client, db):
    assert client.post("/api/v1/customers", json={"customer_id": "C-1"}).status_code == 200
    revoke_key(db, "tests")
    assert_error(client.post("/api/v1/customers", json={"customer_id": "C-2"}), 401, "unauthorized")


def test_a_body_declared_over_the_limit_is_refused_with_413(start_api, api_key, db):
    api = start_api(max_body_bytes=1000)
    big = [{"customer_id": f"C{i}", "name": "x" * 50} for i in range(100)]
    response = httpx.post(api.url + "/api/v1/customers", json=big, headers={"Authorization": f"Bearer {api_key}"})
    assert_error(response, 413, "body_too_large")
    assert db.customers.count_documents({}) == 0


def test_a_chunked_body_is_refused_once_it_passes_the_limit(start_api, api_key, db):
    api = start_api(max_body_bytes=1000)
    sent = []

    def chunks():  # no Content-Length: the server must count as the bytes arrive
        yield b"["
        for i in range(2000):
            sent.append(i)
            yield b'{"customer_id": "C%d", "name": "%s"},' % (i, b"x" * 50)
        yield b'{"customer_id": "last"}]'

    response = httpx.post(
        api.url + "/api/v1/customers",
        content=chunks(),
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
    )
    assert_error(response, 413, "body_too_large")
    assert db.customers.count_documents({}) == 0


def test_a_body_under_the_limit_is_accepted(start_api, api_key):
    api = start_api(max_body_bytes=1000)
    response = httpx.post(
        api.url + "/api/v1/customers", json={"customer_id": "C-1"}, headers={"Authorization": f"Bearer {api_key}"}
    )
    assert response.status_code == 200


def test_too_many_requests_for_one_key_get_429_with_retry_after(start_api, api_key, db):
    api = start_api(api_rate_per_second=1, api_rate_burst=3)
    headers = {"Authorization": f"Bearer {api_key}"}
    codes = [httpx.get(api.url + "/api/v1/customers/none", headers=headers).status_code for _ in range(5)]
    assert codes[:3] == [404, 404, 404] and 429 in codes[3:]
    limited = httpx.get(api.url + "/api/v1/customers/none", headers=headers)
    assert_error(limited, 429, "rate_limited")
    assert int(limited.headers["retry-after"]) >= 1
    # Another key has a bucket of its own.
    from crm.auth.api_keys import create_key

    other = create_key(db, "other")[1]
    assert (
        httpx.get(api.url + "/api/v1/customers/none", headers={"Authorization": f"Bearer {other}"}).status_code == 404
    )


def test_an_unknown_customer_is_404_and_needs_a_key(client, api):
    assert_error(client.get("/api/v1/customers/C-404"), 404, "not_found")
    assert_error(httpx.get(api.url + "/api/v1/customers/C-404"), 401, "unauthorized")


def test_unknown_paths_and_methods_get_json_errors(client):
    assert_error(client.get("/api/v1/nothing"), 404, "not_found")
    assert_error(client.delete("/api/v1/customers"), 405, "method_not_allowed")
    assert_error(client.get("/api/v1/customers/" + "x" * 200), 422, "invalid_request")


def test_health_reports_the_database(api):
    response = httpx.get(api.url + "/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "not configured"}


def test_health_is_503_when_redis_is_configured_but_unreachable(start_api):
    api = start_api(redis_url=f"redis://127.0.0.1:{_closed_port()}/0")
    error = assert_error(httpx.get(api.url + "/healthz"), 503, "unavailable")
    assert error["details"][0]["field"] == "redis"


def _closed_port() -> int:
    from tests.api_fixtures import free_port

    return free_port()  # nothing listens there once the probe socket is closed


INGESTION_TAGS = {"ingestion", "customers", "health"}  # the routes of this API's ingestion part


def test_every_route_documents_examples_and_json_errors(api):
    document = httpx.get(api.url + "/openapi.json").json()
    checked = 0
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            if not INGESTION_TAGS & set(operation.get("tags", [])):
                continue
            checked += 1
            where = f"{method.upper()} {path}"
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            if operation.get("requestBody"):
                assert body.get("examples"), f"{where} has no request example"
            success = operation["responses"][next(iter(operation["responses"]))]
            assert "example" in success["content"]["application/json"] or _schema_has_examples(
                document, success["content"]["application/json"]["schema"]
            ), f"{where} has no response example"
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, f"{where} {status}"
    assert checked == 5  # POST customers, POST orders, GET and DELETE a customer, healthz


def _schema_has_examples(document: dict, schema: dict) -> bool:
    if "$ref" not in schema:
        return "examples" in schema
    name = schema["$ref"].rsplit("/", 1)[-1]
    properties = document["components"]["schemas"][name]["properties"]
    return all("examples" in p or "$ref" in p or "anyOf" in p for p in properties.values())


def test_a_batch_is_503_when_the_queue_cannot_be_reached(start_api, api_key, db):
    api = start_api(redis_url=f"redis://127.0.0.1:{_closed_port()}/0")
    response = httpx.post(
        api.url + "/api/v1/customers", json={"customer_id": "C-1"}, headers={"Authorization": f"Bearer {api_key}"}
    )
    error = assert_error(response, 503, "unavailable")
    assert "Redis" in error["message"]
    assert db.customers.count_documents({}) == 0


def test_the_mock_vendor_is_served_only_when_no_real_vendor_is_configured(crm_env):
    import dataclasses

    from fastapi.testclient import TestClient

    from crm.api.app import create_app
    from crm.config import load_settings

    def answers(settings) -> dict[str, int]:
        client = TestClient(create_app(settings))
        return {
            path: client.post(path, json={}).status_code
            for path in ("/vendor/v1/messages", "/api/v1/delivery-receipts")
        }

    settings = load_settings()
    assert answers(settings)["/vendor/v1/messages"] != 404
    real = answers(dataclasses.replace(settings, vendor_url="https://sms.vendor.example"))
    assert real["/vendor/v1/messages"] == 404
    assert real["/api/v1/delivery-receipts"] != 404  # the real vendor posts its receipts here


def test_consent_as_json_booleans_is_read_and_documented(client, db):
    response = client.post("/api/v1/customers", json={"customer_id": "c1", "consent": {"sms": False, "email": True}})
    assert response.status_code == 200, response.text
    consent = db.customers.find_one({"customer_id": "c1"})["consent"]
    assert (consent["sms"]["status"], consent["email"]["status"]) == ("no", "yes")
    documented = client.get("/openapi.json").json()["components"]["schemas"]["Consent"]["properties"]["sms"]
    assert {"type": "boolean"} in documented["anyOf"][0]["anyOf"]  # what the API takes, the schema says
    error = assert_error(
        client.post("/api/v1/customers", json={"customer_id": "c2", "consent": {"sms": 1}}), 422, "invalid_records"
    )
    assert error["details"][0]["field"].startswith("consent")
