"""The ingestion API refuses hostile batches clearly and cheaply: too many items, a flood of
problems, control and bidi characters, `true` for a number, keys given twice."""

from __future__ import annotations

import json
import time

import pytest

from crm.api.routes.ingest import MAX_BATCH_ITEMS, MAX_ERROR_DETAILS
from tests.core.test_api import assert_error

JSON = {"Content-Type": "application/json"}


def test_a_million_item_batch_is_refused_before_any_item_is_validated(client, db):
    body = b"[" + b",".join([b"{}"] * 1_000_000) + b"]"  # 3 MB, under the body limit
    started = time.perf_counter()
    response = client.post("/api/v1/customers", content=body, headers=JSON)
    elapsed = time.perf_counter() - started
    error = assert_error(response, 413, "too_many_items")
    assert error["message"] == f"the batch has 1,000,000 items; send at most {MAX_BATCH_ITEMS:,} per request"
    assert len(response.content) < 1000  # not one detail per item
    assert db.customers.count_documents({}) == 0
    print(f"1,000,000 items ({len(body):,} bytes) refused in {elapsed:.3f} s")


def test_a_wholly_invalid_batch_lists_the_first_problems_and_counts_them_all(client, db):
    items = [{"order_id": f"O{i}", "amount": "-1"} for i in range(MAX_BATCH_ITEMS)]  # the most allowed
    response = client.post("/api/v1/orders", json=items)
    error = assert_error(response, 422, "invalid_records")
    # Each item: customer_id and order_date missing, the amount negative.
    assert error["message"] == (
        f"{MAX_BATCH_ITEMS} invalid item(s) of {MAX_BATCH_ITEMS}; nothing was written "
        f"({3 * MAX_BATCH_ITEMS:,} problems; the first {MAX_ERROR_DETAILS} are listed)"
    )
    assert len(error["details"]) == MAX_ERROR_DETAILS
    assert [d["index"] for d in error["details"][:6]] == [0, 0, 0, 1, 1, 1]
    assert len(response.content) < 50_000
    assert db.orders.count_documents({}) == 0


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("customer_id", "C-\u00001", "NUL (U+0000) at position 3"),
        ("name", "Asha\x1b[2J", "ESC (U+001B) at position 5"),
        ("name", "\u202eahsA", "right-to-left override (U+202E) at position 1"),
        ("city", "Pune\u2066", "a bidi control (U+2066) at position 5"),
        ("name", "line\nbreak", "line feed (U+000A) at position 5"),
        ("name", "bell\x07", "a control character (U+0007) at position 5"),
        ("name", "\x9b31m", "a control character (U+009B) at position 1"),
        ("name", "lone \ud800", "a lone surrogate (U+D800) at position 6"),
    ],
)
def test_control_and_bidi_characters_in_text_are_refused_naming_the_field(client, db, field, value, named):
    item = {"customer_id": "C-1", field: value}
    body = json.dumps([{"customer_id": "ok"}, item])  # escapes what cannot be sent raw (a lone surrogate)
    response = client.post("/api/v1/customers", content=body, headers=JSON)
    error = assert_error(response, 422, "invalid_records")
    assert error["details"] == [
        {
            "index": 1,
            "field": field,
            "reason": (
                f"contains {named}; text fields may not hold control characters, bidi controls or lone surrogates"
            ),
        }
    ]
    assert db.customers.count_documents({}) == 0


def test_a_bidi_control_in_a_tag_or_an_order_id_is_refused(client, db):
    client.post("/api/v1/customers", json={"customer_id": "C-1"})
    tagged = client.post("/api/v1/customers", json={"customer_id": "C-2", "tags": ["vip", "evil\u202e"]})
    assert assert_error(tagged, 422, "invalid_records")["details"][0]["field"] == "tags"
    order = {"order_id": "O-\x1b1", "customer_id": "C-1", "amount": 5, "order_date": "2024-03-01"}
    assert (
        assert_error(client.post("/api/v1/orders", json=order), 422, "invalid_records")["details"][0]["field"]
        == "order_id"
    )
    assert db.customers.count_documents({"customer_id": "C-2"}) == 0 and db.orders.count_documents({}) == 0


def test_ordinary_unicode_text_is_still_accepted(client, db):
    name = "Zoë Ñúñez 東京 🚀 — O'Brien-Smith (Jr.)"
    assert client.post("/api/v1/customers", json={"customer_id": "C-ü", "name": f"  {name}\t"}).status_code == 200
    assert db.customers.find_one({"customer_id": "C-ü"})["name"] == name


@pytest.mark.parametrize("value", [True, False])
def test_true_or_false_for_age_is_refused_not_stored_as_a_number(client, db, value):
    response = client.post("/api/v1/customers", json={"customer_id": "C-1", "age": value})
    error = assert_error(response, 422, "invalid_records")
    assert error["details"] == [
        {"index": 0, "field": "age", "reason": f"must be a whole number, not {str(value).lower()}"}
    ]
    assert db.customers.count_documents({}) == 0


def test_a_key_given_twice_in_an_object_is_refused_naming_it(client, db):
    body = (
        b'[{"customer_id": "C-1"},'
        b' {"customer_id": "C-2", "name": "Asha", "name": "Mallory",'
        b' "consent": {"sms": "yes", "sms": "no"}}]'
    )
    response = client.post("/api/v1/customers", content=body, headers=JSON)
    error = assert_error(response, 422, "invalid_records")
    assert sorted((d["index"], d["field"]) for d in error["details"]) == [(1, "name"), (1, "sms")]
    assert "appears more than once in one object" in error["details"][0]["reason"]
    assert db.customers.count_documents({}) == 0


def test_a_single_order_object_with_a_repeated_amount_is_refused(client, db):
    client.post("/api/v1/customers", json={"customer_id": "C-1"})
    body = b'{"order_id": "O-1", "customer_id": "C-1", "amount": 1, "amount": 99999, "order_date": "2024-03-01"}'
    error = assert_error(client.post("/api/v1/orders", content=body, headers=JSON), 422, "invalid_records")
    assert error["details"] == [
        {
            "index": 0,
            "field": "amount",
            "reason": ("the key 'amount' appears more than once in one object; send each field once"),
        }
    ]
    assert db.orders.count_documents({}) == 0


def test_a_customer_whose_orders_total_past_int64_is_still_shown(client, db):
    from datetime import UTC, datetime

    from bson.int64 import Int64

    when = datetime(2025, 3, 1, tzinfo=UTC)
    db.customers.insert_one({"customer_id": "C-1", "created_at": when, "updated_at": when})
    db.orders.insert_many(
        [
            {
                "order_id": f"O-{i}",
                "customer_id": "C-1",
                "amount": Int64(2**63 - 8),
                "status": "completed",
                "order_date": when,
                "created_at": when,
                "updated_at": when,
            }
            for i in range(2)
        ]
    )  # written before the per-order ceiling
    response = client.get("/api/v1/customers/C-1")
    assert response.status_code == 200, response.text
    assert response.json()["orders"]["total_spend_paise"] == 2 * (2**63 - 8)
