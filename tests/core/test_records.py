"""Record validation: the one path that CSV files, the CLI and the API share."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from bson.int64 import Int64
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import PydanticCustomError

from crm.ingest import values
from crm.ingest.records import (
    CustomerRecord,
    OrderRecord,
    RowError,
    RowProblem,
    record_to_document,
    validate_records,
)


def order(**fields):
    return {"order_id": "O1", "customer_id": "C1", "amount": "10.00", "order_date": "2024-03-01", **fields}


def one_valid(kind, row):
    result = validate_records(kind, [row])
    assert result.errors == [], result.errors
    return result.valid[0]


def one_error(kind, row) -> RowError:
    result = validate_records(kind, [row])
    assert result.valid == [] and result.errors, "the row should have been rejected"
    return result.errors[0]


@pytest.mark.parametrize(
    "amount, paise",
    [
        ("1299.50", 129950),
        ("0", 0),
        ("0.00", 0),
        ("10", 1000),
        ("0.5", 50),
        (" 42.1 ", 4210),
        ("10.500", 1050),  # trailing zeros still mean two decimals
        (19.99, 1999),
        (7, 700),
        ("100000000.00", 10**10),
    ],
)
def test_amounts_in_rupees_become_exact_paise(amount, paise):
    record = one_valid("orders", order(amount=amount))
    assert record.amount_paise == paise
    assert record_to_document(record)["amount"] == paise


@pytest.mark.parametrize(
    "amount, reason",
    [
        ("-5", "must not be negative"),
        ("-0.01", "must not be negative"),
        ("1.234", "more than 2 decimals"),
        ("0.001", "more than 2 decimals"),
        ("abc", "not a number of rupees"),
        ("1e308", "too large"),
        (1e308, "too large"),
        ("92233720368547758.08", "more than ₹10 crore"),
        ("1e999999999", "too large"),
        ("1,00", "commas in the wrong places"),
        ("NaN", "not a number of rupees"),
        ("Infinity", "not a number of rupees"),
        ("1_000", "not a number of rupees"),
        ("", "required field is empty"),
        (True, "number of rupees"),
        ({"$gt": 0}, "number of rupees"),
        ([1], "number of rupees"),
    ],
)
def test_bad_amounts_are_rejected_with_the_reason(amount, reason):
    error = one_error("orders", order(amount=amount))
    assert error.column == "amount"
    assert reason in error.reason


def test_orders_take_amount_in_rupees_only_not_paise():
    row = order()
    row["amount_paise"] = row.pop("amount")
    columns = {error.column for error in validate_records("orders", [row]).errors}
    assert columns == {"amount", "amount_paise"}


@pytest.mark.parametrize(
    "text, expected",
    [
        # A date alone is that calendar day; a time without an offset is in the workspace zone
        # (Asia/Kolkata, +05:30).
        ("2024-03-01", datetime(2024, 3, 1, tzinfo=UTC)),
        ("2024-03-01T00:10:00+05:30", datetime(2024, 2, 29, 18, 40, tzinfo=UTC)),
        ("2024-03-01T10:00:00", datetime(2024, 3, 1, 4, 30, tzinfo=UTC)),
        ("2024-03-01T10:00:00Z", datetime(2024, 3, 1, 10, tzinfo=UTC)),
        ("2024-03-01 10:00:00-04:00", datetime(2024, 3, 1, 14, tzinfo=UTC)),
        ("2024-03-01T10:00:00.123456Z", datetime(2024, 3, 1, 10, 0, 0, 123000, tzinfo=UTC)),
    ],
)
def test_dates_are_iso_8601_and_stored_in_utc(text, expected):
    record = one_valid("orders", order(order_date=text))
    assert record.order_date == expected
    assert record.order_date.utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    "value, reason",
    [
        ("1700000000", "not an ISO 8601 date"),
        ("2024-02-30", "day is out of range"),
        ("yesterday", "not an ISO 8601 date"),
        ("", "required field is empty"),
        (1700000000, "ISO 8601 text"),
        (["2024-03-01"], "ISO 8601 text"),
        ({"$date": 1}, "ISO 8601 text"),
    ],
)
def test_bad_dates_are_rejected(value, reason):
    error = one_error("orders", order(order_date=value))
    assert (error.column, reason in error.reason) == ("order_date", True), error


@pytest.mark.parametrize(
    "given, stored",
    [
        ("completed", "completed"),
        ("Completed", "completed"),
        ("REFUNDED", "refunded"),
        (" cancelled ", "cancelled"),
        ("", "completed"),
        (None, "completed"),
    ],
)
def test_order_status_is_case_insensitive_and_defaults_to_completed(given, stored):
    row = order() if given is None else order(status=given)
    assert one_valid("orders", row).status == stored


@pytest.mark.parametrize("status", ["lost", "complete", "1"])
def test_unknown_order_status_is_rejected(status):
    error = one_error("orders", order(status=status))
    assert error.column == "status" and "completed" in error.reason


@pytest.mark.parametrize(
    "email, stored",
    [
        ("Priya.Sharma@Example.COM", "priya.sharma@example.com"),
        (" a@b.co ", "a@b.co"),
        ("", None),
        ("अमित@उदाहरण.भारत", "अमित@उदाहरण.भारत"),
    ],
)
def test_emails_are_validated_and_lower_cased(email, stored):
    assert one_valid("customers", {"customer_id": "C1", "email": email}).email == stored


@settings(max_examples=300, deadline=None)
@given(st.from_regex(values.PLAIN_EMAIL, fullmatch=True) | st.emails())
def test_the_plain_email_shortcut_agrees_with_email_validator(email):
    try:
        expected = validate_email(email, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        expected = None
    try:
        ours = values.email(email)
    except PydanticCustomError:
        ours = None
    assert ours == expected


@pytest.mark.parametrize(
    "email",
    [
        "priya",
        "priya@",
        "@example.com",
        "a b@example.com",
        "a@@example.com",
        "a@example.test",
        "a@localhost",
        "a..b@example.com",
    ],
)
def test_invalid_emails_are_rejected(email):
    error = one_error("customers", {"customer_id": "C1", "email": email})
    assert error.column == "email" and "not a valid email address" in error.reason


@pytest.mark.parametrize("name", ["अमित शर्मा", "Zoë 😀 Müller", "李雷", "O'Brien-Smith"])
def test_unicode_names_are_kept_as_given(name):
    assert one_valid("customers", {"customer_id": "C1", "name": f"  {name} "}).name == name


def test_customer_fields_are_trimmed_and_empty_strings_become_none():
    record = one_valid(
        "customers",
        {
            "customer_id": " C1 ",
            "name": " ",
            "city": " Pune ",
            "age": "34",
            "gender": "",
            "tags": "vip; new ;;vip",
            "signup_date": "",
        },
    )
    assert (record.customer_id, record.name, record.city, record.age) == ("C1", None, "Pune", 34)
    assert (record.gender, record.signup_date, record.tags) == (None, None, ["vip", "new"])


@pytest.mark.parametrize("tags, stored", [("", []), ("a;b", ["a", "b"]), (["x", " y "], ["x", "y"]), ([], [])])
def test_tags_come_from_semicolons_in_csv_or_a_list_in_json(tags, stored):
    assert one_valid("customers", {"customer_id": "C1", "tags": tags}).tags == stored


@pytest.mark.parametrize(
    "value, status",
    [
        ("true", "yes"),
        ("false", "no"),
        ("yes", "yes"),
        ("no", "no"),
        ("1", "yes"),
        ("0", "no"),
        ("Y", "yes"),
        ("n", "no"),
        ("Subscribed", "yes"),
        ("unsubscribed", "no"),
        ("not_subscribed", "unknown"),
        ("unknown", "unknown"),
        ("", None),
    ],
)
def test_consent_columns_accept_the_words_exports_use_and_say_nothing_when_empty(value, status):
    record = one_valid("customers", {"customer_id": "C1", "consent_sms": value})
    assert record.consent.sms == status
    assert record.consent.carried() == ({"sms": status} if status else {})


def test_consent_as_json_object_and_bad_consent_value():
    consent = one_valid("customers", {"customer_id": "C1", "consent": {"whatsapp": False, "email": "yes"}}).consent
    assert consent.carried() == {"whatsapp": "no", "email": "yes"}
    error = one_error("customers", {"customer_id": "C1", "consent_email": "maybe"})
    assert error.column == "consent.email" and "use yes, no or unknown" in error.reason


@pytest.mark.parametrize(
    "row, column, reason",
    [
        ({"customer_id": ""}, "customer_id", "required field is empty"),
        ({"name": "No Id"}, "customer_id", "required field is missing"),
        ({"customer_id": "x" * 129}, "customer_id", "at most 128"),
        ({"customer_id": "C1", "age": "131"}, "age", "'131' is more than 130, the most allowed"),
        ({"customer_id": "C1", "age": "-1"}, "age", "'-1' is less than 0, the least allowed"),
        ({"customer_id": "C1", "age": "thirty"}, "age", "'thirty' is not a whole number"),
        ({"customer_id": "C1", "phone": "call me"}, "phone", "not a phone number"),
        ({"customer_id": "C1", "signup_date": "01/03/2024"}, "signup_date", "not an ISO 8601 date"),
        ({"customer_id": "C1", "tags": [1, 2]}, "tags", "tags must be text"),
        ({"customer_id": "C1", "tags": ";".join(f"t{i}" for i in range(51))}, "tags", "at most 50 tags"),
        ({"customer_id": "C1", "tags": ["x" * 65]}, "tags", "at most 64 characters"),
        ({"customer_id": "C1", "loyalty": "gold"}, "loyalty", "unknown field"),
        ({"customer_id": "C1", "$where": "1"}, "$where", "must not start with $"),
        ({"customer_id": {"$ne": None}}, "customer_id", "must be text"),
        ({"customer_id": ["C1"]}, "customer_id", "must be text"),
        ({"customer_id": "C1", "name": {"first": "A"}}, "name", "must be text"),
        ({"customer_id": "C1", "consent": {"$set": True}}, "consent.$set", "unknown field"),
    ],
)
def test_bad_customer_fields_name_the_column_and_the_reason(row, column, reason):
    errors = validate_records("customers", [row]).errors
    assert any(e.column == column and reason in e.reason for e in errors), errors


def test_whole_number_ids_and_phones_from_json_become_text():
    record = one_valid("customers", {"customer_id": 42, "phone": 9876543210})
    assert (record.customer_id, record.phone) == ("42", "+919876543210")


def test_a_record_that_is_not_an_object_is_rejected():
    assert "object of fields" in one_error("customers", ["C1", "Priya"]).reason


def test_a_repeated_id_is_an_error_on_the_later_row_naming_the_first():
    result = validate_records(
        "customers", [{"customer_id": "C1"}, {"customer_id": "C2"}, {"customer_id": " C1"}], first_row=2
    )
    assert [r.customer_id for r in result.valid] == ["C1", "C2"]
    assert result.errors == [RowError(4, "customer_id", "duplicate customer_id 'C1': same as row 2")]


def test_rows_are_numbered_from_first_row_and_blank_rows_keep_their_number():
    rows = [order(order_id="A"), None, order(order_id="B", amount="x"), RowProblem("", "3 cells, header has 5")]
    result = validate_records("orders", rows, first_row=0)
    assert result.rows == [0] and result.rows_seen == 4
    assert [(e.row, e.column) for e in result.errors] == [(2, "amount"), (3, "")]


def test_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError):
        validate_records("products", [])


def test_documents_have_the_design_shape():
    customer = one_valid("customers", {"customer_id": "C1", "email": "A@B.CO", "consent_sms": "no"})
    doc = record_to_document(customer)
    assert set(doc) == {
        "customer_id",
        "name",
        "email",
        "phone",
        "city",
        "gender",
        "age",
        "signup_date",
        "tags",
        "consent",
        "attributes",  # custom attributes, {} when none
    }
    assert doc["consent"] == {"email": None, "sms": "no", "whatsapp": None}  # the writer stamps and merges
    order_doc = record_to_document(one_valid("orders", order(amount="12.34")))
    assert set(order_doc) == {"order_id", "customer_id", "amount", "status", "order_date"}
    assert isinstance(order_doc["amount"], Int64) and order_doc["amount"] == 1234


def test_models_are_usable_directly_by_the_api():
    assert CustomerRecord.model_validate({"customer_id": "C9"}).consent.carried() == {}
    assert OrderRecord.model_validate(order()).amount_paise == 1000


def test_unknown_customers_are_found_when_a_batch_names_most_of_the_collection(db):
    # Past SCAN_MIN_IDS distinct ids the check reads every id once instead of $in chunks.
    from crm.ingest.records import SCAN_MIN_IDS, OrderRecord, check_customers_exist

    known = [f"C{i:05d}" for i in range(SCAN_MIN_IDS + 400)]
    db.customers.insert_many([{"customer_id": cid} for cid in known])
    unknown = [f"X{i:05d}" for i in range(100)]
    orders = [
        OrderRecord.model_validate(
            {"order_id": f"O{i}", "customer_id": cid, "amount": "10", "order_date": "2024-01-01"}
        )
        for i, cid in enumerate(known + unknown)
    ]
    errors = check_customers_exist(db, orders)
    assert [e.row for e in errors] == list(range(len(known), len(known) + len(unknown)))
    assert all(e.column == "customer_id" and "unknown customer" in e.reason for e in errors)


@pytest.mark.parametrize("amount", ["100000000.01", "92233720368547758.07", 1e12])
def test_an_order_over_ten_crore_is_refused_saying_why(amount):
    error = one_error("orders", order(amount=amount))
    assert error.column == "amount" and "more than ₹10 crore" in error.reason


def test_an_order_of_exactly_ten_crore_is_accepted():
    assert one_valid("orders", order(amount="100000000.00")).amount_paise == 10**10


@pytest.mark.parametrize(
    "kind, row, column, reason",
    [
        ("customers", {"age": "abc"}, "age", "'abc' is not a whole number, e.g. 35"),
        ("customers", {"age": "25.5"}, "age", "'25.5' is not a whole number"),
        ("customers", {"age": "-1"}, "age", "'-1' is less than 0, the least allowed"),
        ("customers", {"age": "200"}, "age", "'200' is more than 130, the most allowed"),
        ("customers", {"name": "x" * 300}, "name", "is 300 characters long; at most 256 are allowed"),
        ("customers", {"customer_id": "k" * 200}, "customer_id", "at most 128 are allowed"),
        ("customers", {"customer_id": ["x"]}, "customer_id", "must be text"),
        ("customers", {"consent": "yes"}, "consent", "must be an object of fields"),
        ("orders", {"status": "lost"}, "status", "'lost' is not one of 'completed', 'cancelled' or 'refunded'"),
    ],
)
def test_every_refusal_is_in_our_words_with_the_value(kind, row, column, reason):
    base = {"customer_id": "C1"} if kind == "customers" else order()
    errors = validate_records(kind, [{**base, **row}]).errors
    assert [(e.column, e.reason) for e in errors if reason in e.reason] == [(column, errors[0].reason)]
    assert not any("Input should" in e.reason or "input_value" in e.reason for e in errors)
