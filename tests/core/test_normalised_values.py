"""One person is one customer however their file wrote them: genders stored as female / male /
other, phones as E.164, through every way in (CSV, API), in rules, and for data stored before."""

from __future__ import annotations

import io
import random
from dataclasses import replace

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat

from crm.analytics import analytic_copy, preview
from crm.auth import CLI
from crm.config import load_settings
from crm.ingest.csv_import import import_csv
from crm.ingest.migrations import normalise_stored_customers
from crm.ingest.preview import first_rows_as_stored
from crm.ingest.reading import workspace_reading
from crm.ingest.records import validate_records
from crm.ingest.values import INDIAN_MOBILE
from crm.segment_builder.choices import value_choices
from crm.segment_engine.model import parse_rule


def customer(reading=None, **cells) -> object:
    """The stored form of one customer row, or the reason it was refused."""
    kwargs = {"reading": reading} if reading else {}
    result = validate_records("customers", [{"customer_id": "C1", **cells}], **kwargs)
    return result.valid[0] if result.valid else result.errors[0].reason


@pytest.mark.parametrize(
    "written, stored",
    [
        ("F", "female"),
        ("female", "female"),
        (" Woman ", "female"),
        ("MAHILA", "female"),
        ("M", "male"),
        ("Man", "male"),
        ("purush", "male"),
        ("O", "other"),
        ("Non-binary", "other"),
        ("prefer not to say", None),
        ("prefer-not-to-say", None),
        ("Not disclosed", None),
        ("N.A.", None),
        ("--", None),
        ("N/A", None),
        ("Female.", "female"),
    ],
)
def test_genders_are_stored_as_one_of_three_words(written, stored):
    assert customer(gender=written).gender == stored


def test_a_gender_we_do_not_know_is_refused_with_the_accepted_words():
    reason = customer(gender="zebra")
    assert "'zebra' is not a gender we know" in reason and "female (F, woman, mahila)" in reason


@pytest.mark.parametrize(
    "written", ["98765 43210", "+91 98765 43210", "+91-98765-43210", "098765 43210", "(+91) 9876543210", "9876543210"]
)
def test_one_indian_number_written_six_ways_is_stored_once_as_e164(written):
    assert customer(phone=written).phone == "+919876543210"


def test_a_landline_and_a_foreign_number_keep_their_country():
    assert customer(phone="022 2345 6789").phone == "+912223456789"
    assert customer(phone="+44 20 7946 0958").phone == "+442079460958"


def test_the_phone_region_is_a_setting():
    us = workspace_reading(replace(load_settings(), phone_region="US"))
    assert customer(us, phone="(415) 555-2671").phone == "+14155552671"
    assert customer(phone="(415) 555-2671").phone == "+914155552671"  # the same digits, read in India


@pytest.mark.parametrize("written", ["12345", "00000 00000", "98765 4321"])
def test_a_number_that_is_no_valid_phone_is_refused_saying_how_to_write_it(written):
    reason = customer(phone=written)
    assert "is not a valid phone number of IN" in reason and "+91 98765 43210" in reason


def test_the_same_person_in_two_files_is_one_record(db):
    import_csv(db, "customers", io.BytesIO(b"customer_id,phone,gender\nC1,98765 43210,F\n"), by=CLI)
    report = import_csv(db, "customers", io.BytesIO(b"customer_id,phone,gender\nC1,+91-98765-43210,female\n"), by=CLI)
    assert (report.updated, report.unchanged) == (0, 1)
    stored = db.customers.find_one({"customer_id": "C1"})
    assert (stored["phone"], stored["gender"]) == ("+919876543210", "female")


def test_the_api_stores_the_same_normal_forms(client, db):
    response = client.post("/api/v1/customers", json=[{"customer_id": "A1", "gender": "M", "phone": "98765 43210"}])
    assert response.status_code == 200, response.text
    stored = db.customers.find_one({"customer_id": "A1"})
    assert (stored["gender"], stored["phone"]) == ("male", "+919876543210")
    refused = client.post("/api/v1/customers", json=[{"customer_id": "A2", "gender": "zebra"}])
    assert refused.status_code == 422 and "is not a gender we know" in refused.text


def test_rule_values_on_gender_select_the_same_customers_as_the_stored_words(db, fresh_copies):
    rows = "customer_id,gender\n" + "".join(f"W{i},{g}\n" for i, g in enumerate(["F", "Woman", "female", "M", ""]))
    import_csv(db, "customers", io.BytesIO(rows.encode()), by=CLI)

    def count(value, operator="="):
        return preview({"op": "and", "rules": [{"field": "gender", "operator": operator, "value": value}]}).count

    assert count("F") == count("female") == count("woman") == 3
    assert count(["F", "M"], "in") == 4 and count("F", "!=") == 1
    assert value_choices(analytic_copy.open_copy().cursor())["gender"] == ["female", "male"]
    # The stored rule says what it selects.
    rule = parse_rule({"op": "and", "rules": [{"field": "gender", "operator": "in", "value": ["F", "Mahila"]}]})
    assert rule.to_json()["rules"][0]["value"] == ["female"]
    # A word the table does not know stays as written (a saved segment on old values still runs).
    kept = parse_rule({"op": "and", "rules": [{"field": "gender", "operator": "in", "value": ["zebra", "F"]}]})
    assert kept.to_json()["rules"][0]["value"] == ["zebra", "female"]


def test_a_workspace_stored_before_is_migrated_once(db, fresh_copies):
    db.customers.insert_many(
        [
            {"customer_id": "old1", "gender": "F", "phone": "98765 43210"},
            {"customer_id": "old2", "gender": "Male", "phone": "+919876543211"},
            {"customer_id": "old3", "gender": "zebra", "phone": "12"},
            {"customer_id": "old4", "gender": "female", "phone": None},
            {"customer_id": "old5", "gender": "n/a", "phone": "2125550100", "city": "pune"},
            {"customer_id": "old6", "gender": "W", "city": "Pune"},
            {"customer_id": "old7", "city": "Pune"},
        ]
    )
    report = normalise_stored_customers(db, "IN")
    assert report.customers_changed == 4  # old1, old2, old5 (city), old6 (gender): each counted once
    assert report.left_as_they_were == {"gender": 2, "phone": 2}
    stored = {d["customer_id"]: (d.get("gender"), d.get("phone")) for d in db.customers.find()}
    assert stored == {
        "old1": ("female", "+919876543210"),
        "old2": ("male", "+919876543211"),
        "old3": ("zebra", "12"),  # nothing we cannot read is thrown away
        "old4": ("female", None),
        # Maybe a New York number: without its country code the region setting is no proof.
        "old5": ("n/a", "2125550100"),
        "old6": ("female", None),
        "old7": (None, None),
    }
    assert db.customers.find_one({"customer_id": "old5"})["city"] == "Pune"  # the most used spelling
    db.customers.insert_one({"customer_id": "old8", "gender": "M"})
    assert normalise_stored_customers(db, "IN").already_done
    assert db.customers.find_one({"customer_id": "old8"})["gender"] == "M"  # once: later runs do nothing


def test_the_migrate_command_prints_what_it_did(cli, db):
    db.customers.insert_one({"customer_id": "old1", "gender": "W"})
    result = cli("db", "migrate", check=True)
    assert '"customers_changed": 1' in result.stdout
    assert db.customers.find_one({"customer_id": "old1"})["gender"] == "female"


def test_the_indian_mobile_shortcut_agrees_with_libphonenumber():
    """Every number the shortcut reads, the library reads the same (and holds valid)."""
    rng = random.Random(5)
    for _ in range(3_000):
        digits = f"{rng.choice('6789')}{rng.randrange(10**9):09d}"
        for written in (digits, f"+91 {digits[:5]} {digits[5:]}", f"0{digits}", f"+91-{digits[:5]}-{digits[5:]}"):
            assert INDIAN_MOBILE.fullmatch(written), written
            number = phonenumbers.parse(written, "IN")
            assert phonenumbers.is_valid_number(number), written
            assert customer(phone=written).phone == phonenumbers.format_number(number, PhoneNumberFormat.E164)


def test_a_city_takes_the_workspaces_spelling_where_only_case_or_spacing_differ(db, fresh_copies):
    import_csv(db, "customers", io.BytesIO(b"customer_id,city\nK1,Mumbai\nK2,navi mumbai\n"), by=CLI)
    later = "customer_id,city\nK3, MUMBAI \nK4,Navi  Mumbai\nK5,Bombay\nK6,bengaluru\nK7,Bengaluru\n"
    import_csv(db, "customers", io.BytesIO(later.encode()), by=CLI)
    cities = {d["customer_id"]: d["city"] for d in db.customers.find()}
    assert cities == {
        "K1": "Mumbai",
        "K2": "navi mumbai",  # the first spelling the workspace saw
        "K3": "Mumbai",
        "K4": "navi mumbai",
        "K5": "Bombay",  # another name, not another spelling: a person decides to merge those
        "K6": "bengaluru",
        "K7": "bengaluru",  # the first of the file, for a city new to the workspace
    }
    offered = value_choices(analytic_copy.open_copy().cursor())["city"]
    assert sorted(offered) == ["Bombay", "Mumbai", "bengaluru", "navi mumbai"]  # one choice per city


def test_the_api_and_the_preview_use_the_same_spellings(client, db):
    import_csv(db, "customers", io.BytesIO(b"customer_id,city\nK1,Pune\n"), by=CLI)
    client.post("/api/v1/customers", json=[{"customer_id": "K2", "city": "PUNE"}])
    assert db.customers.find_one({"customer_id": "K2"})["city"] == "Pune"
    rows = first_rows_as_stored(
        "customers", io.BytesIO(b"customer_id,city\nK3,pune \n"), {"customer_id": "customer_id", "city": "city"},
        workspace_reading(load_settings()), db,
    )  # fmt: skip
    assert rows[0]["city"] == "Pune"
    new_city = io.BytesIO(b"customer_id,city\nK4,Navi  Mumbai\nK5,NAVI MUMBAI\n")
    mapping = {"customer_id": "customer_id", "city": "city"}
    rows = first_rows_as_stored("customers", new_city, mapping, workspace_reading(load_settings()), db)
    assert [row["city"] for row in rows] == ["Navi Mumbai", "Navi Mumbai"]  # as the import will store them
    assert db.city_spellings.count_documents({"_id": "navi mumbai"}) == 0  # a preview stores nothing


def test_the_migration_gives_each_stored_city_its_most_used_spelling(db, fresh_copies):
    db.customers.insert_many(
        [{"customer_id": f"P{i}", "city": city} for i, city in enumerate(["Pune", "Pune", "PUNE", " pune", "Delhi"])]
    )
    report = normalise_stored_customers(db, "IN")
    assert report.customers_changed == 2
    assert sorted(d["city"] for d in db.customers.find()) == ["Delhi", "Pune", "Pune", "Pune", "Pune"]
    import_csv(db, "customers", io.BytesIO(b"customer_id,city\nP9,pUnE\n"), by=CLI)
    assert db.customers.find_one({"customer_id": "P9"})["city"] == "Pune"


def test_the_api_brings_a_workspace_stored_before_to_the_normal_forms_at_start(db, start_api):
    db.customers.insert_one({"customer_id": "old1", "gender": "W", "phone": "98765 43210"})
    start_api()
    stored = db.customers.find_one({"customer_id": "old1"})
    assert (stored["gender"], stored["phone"]) == ("female", "+919876543210")
