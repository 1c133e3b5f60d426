"""Custom attributes end to end in one process: kept from a file with `import --attribute`, stored
on MongoDB, segmented on through the analytic copy with every operator of each kind (held to the
reference evaluator over the stored documents), described in English, exported and read back;
API writes validated by the same registry."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime

import pytest

from crm.api.accept import BatchRejected, accept_batch
from crm.auth import CLI
from crm.errors import Conflict, InvalidInput
from crm.ingest.attribute_registry import register_attribute, registered, workspace_catalogue
from crm.ingest.csv_import import ImportRejected, import_csv
from crm.segment_engine.operators import operators_for
from crm.segment_engine.reference import evaluate

FILE = """Cust ID,Name,Loyalty Tier,Rating,Club Joined,App User,Preferred Stores
C1,Asha,Gold,4.5,15/06/2022,yes,Andheri; Bandra
C2,Ravi, silver ,"1,200",01/03/2024,No,Powai
C3,Meena,,3,,,
C4,Kabir,GOLD,-2.5,31/12/2023,Y,andheri
"""
ATTRIBUTES = ["Loyalty Tier=text", "Rating=number", "Club Joined=date", "App User=yes/no", "Preferred Stores=list"]
AS_OF = "2024-03-10"
VALUES = {
    "string": ["Gold", "silver", "Platinum"],
    "decimal": [4.5, 1200, 0],
    "date": ["2022-06-15", "2024-03-01", "2023-12-31"],
    "yesno": [True, False],
    "list": ["Andheri", "powai", "Juhu"],
}


@pytest.fixture
def imported(cli, db, fresh_copies, tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text(FILE, encoding="utf-8")
    args = [a for spec in ATTRIBUTES for a in ("--attribute", spec)]
    result = cli("import", "customers", str(path), "--map", "Cust ID=customer_id", *args, check=True)
    assert json.loads(result.stdout.splitlines()[-1])["inserted"] == 4
    return tmp_path


def test_the_file_keeps_its_columns_as_typed_attributes(imported, db):
    assert [(a.name, a.label, a.kind) for a in registered(db)] == [
        ("attr.loyalty_tier", "Loyalty Tier", "text"),
        ("attr.rating", "Rating", "number"),
        ("attr.club_joined", "Club Joined", "date"),
        ("attr.app_user", "App User", "yes/no"),
        ("attr.preferred_stores", "Preferred Stores", "list"),
    ]
    stored = {d["customer_id"]: d["attributes"] for d in db.customers.find()}
    assert stored["C1"]["rating"] == 4.5 and stored["C2"]["rating"] == 1200.0
    assert stored["C1"]["club_joined"].date() == date(2022, 6, 15)  # detected day first
    assert stored["C2"]["app_user"] is False and stored["C4"]["app_user"] is True
    assert stored["C1"]["preferred_stores"] == ["Andheri", "Bandra"]
    assert stored["C3"] == {
        "loyalty_tier": None,
        "rating": 3.0,
        "club_joined": None,
        "app_user": None,
        "preferred_stores": [],
    }


def _documents(db) -> list[dict]:
    return [{**d, "tags": d.get("tags") or []} for d in db.customers.find({}, {"_id": 0})]


def test_every_operator_of_each_kind_counts_what_the_reference_evaluator_selects(imported, cli, db, tmp_path):
    catalogue = workspace_catalogue(db)
    people = _documents(db)
    checked, sizes = 0, set()
    for attribute in registered(db):
        field = catalogue[attribute.name]
        for operator in operators_for(field.type):
            value: object = VALUES[field.type][0]
            if operator.shape == "none":
                value = None
            elif operator.shape == "pair":
                value = sorted(VALUES[field.type][:2]) if field.type != "yesno" else None
            elif operator.shape == "many":
                value = VALUES[field.type]
            elif operator.shape == "days":
                value = 30
            condition = {"field": attribute.name, "operator": operator.key}
            rule = {"op": "and", "rules": [condition if value is None else {**condition, "value": value}]}
            path = tmp_path / "rule.json"
            path.write_text(json.dumps(rule))
            counted = cli("segment", "count", str(path), "--as-of", AS_OF, check=True)
            expected = evaluate(rule, people, [], date.fromisoformat(AS_OF), catalogue)
            assert int(counted.stdout.splitlines()[-1]) == len(expected), (rule, sorted(expected))
            checked += 1
            sizes.add(len(expected))
    assert checked == 9 + 9 + 8 + 4 + 6  # string, number, date, yes/no and list operators
    assert {0, 1, 2, 3} <= sizes  # the rules tell customers apart


def test_a_rule_on_an_attribute_reads_in_english(imported, cli, tmp_path):
    rule = {"op": "and", "rules": [{"field": "attr.loyalty_tier", "operator": "=", "value": "Gold"}]}
    path = tmp_path / "rule.json"
    path.write_text(json.dumps(rule))
    assert cli("segment", "describe", str(path), check=True).stdout.strip() == "Customers whose loyalty tier is “Gold”"


def test_the_export_has_each_attribute_under_its_label_and_reads_back_in(imported, cli, db, tmp_path):
    rule = {"op": "and", "rules": [{"field": "attr.loyalty_tier", "operator": "=", "value": "gold"}]}
    (tmp_path / "gold.json").write_text(json.dumps(rule))
    out = tmp_path / "gold.csv"
    cli("segment", "export", str(tmp_path / "gold.json"), "-o", str(out), check=True)
    rows = {r["customer_id"]: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert sorted(rows) == ["C1", "C4"]
    assert rows["C1"]["Loyalty Tier"] == "Gold" and rows["C1"]["Club Joined"] == "2022-06-15"
    assert rows["C1"]["App User"] == "true" and rows["C1"]["Preferred Stores"] == "Andheri;Bandra"
    db.customers.update_one({"customer_id": "C1"}, {"$set": {"attributes.loyalty_tier": "changed"}})
    again = cli("import", "customers", str(out), check=True)  # the labels map back by themselves
    assert json.loads(again.stdout.splitlines()[-1])["updated"] == 1
    assert db.customers.find_one({"customer_id": "C1"})["attributes"]["loyalty_tier"] == "Gold"


def test_a_column_of_another_kind_is_refused_and_nothing_is_written(imported, db):
    data = io.BytesIO(b"customer_id,Loyalty Tier\nC9,7\n")
    with pytest.raises(Conflict, match="holds text values, not number"):
        import_csv(
            db, "customers", data, {"customer_id": "customer_id"}, by=CLI, new_attributes=[("Loyalty Tier", "number")]
        )
    assert db.customers.count_documents({"customer_id": "C9"}) == 0


def test_a_refused_file_registers_nothing(db):
    data = io.BytesIO(b"customer_id,Points\nC1,many\n")
    mapping = {"customer_id": "customer_id", "Points": "attr.points"}
    with pytest.raises(ImportRejected) as refused:
        import_csv(db, "customers", data, mapping, by=CLI, new_attributes=[("Points", "number")])
    assert refused.value.report.rejected[0].column == "Points"
    assert "'many' is not a number" in refused.value.report.rejected[0].reason
    assert registered(db) == ()


def test_the_api_validates_attributes_by_their_kind_and_refuses_unknown_ones(imported, db):
    accept_batch(db, "customers", [{"customer_id": "C2", "attributes": {"rating": 5, "app_user": True}}], by=CLI)
    stored = db.customers.find_one({"customer_id": "C2"})["attributes"]
    assert stored["rating"] == 5.0 and stored["app_user"] is True
    assert stored["loyalty_tier"] == "silver"  # attributes the request did not name are kept
    with pytest.raises(BatchRejected) as refused:
        accept_batch(db, "customers", [{"customer_id": "C5", "attributes": {"shoe_size": 9, "rating": "lots"}}], by=CLI)
    problems = {e.column: e.reason for e in refused.value.errors}
    assert "'shoe_size' is not an attribute of this workspace" in problems["attributes.shoe_size"]
    assert "is not a number" in problems["attributes.rating"]
    assert db.customers.count_documents({"customer_id": "C5"}) == 0


@pytest.mark.parametrize("heading", ["consent_sms", "Consent SMS", "Total Spend", "days since last order", "=1+2"])
def test_an_attribute_cannot_take_the_name_of_a_built_in_column_or_a_formula(db, heading):
    data = io.BytesIO(f"customer_id,{heading}\nC1,granted\n".encode())
    with pytest.raises(InvalidInput):
        import_csv(db, "customers", data, {"customer_id": "customer_id"}, by=CLI, new_attributes=[(heading, "text")])
    assert registered(db) == () and db.customers.count_documents({}) == 0


def test_a_customer_whose_attributes_are_not_an_object_gets_them_written_whole(imported, db):
    db.customers.update_one({"customer_id": "C1"}, {"$set": {"attributes": None}})
    db.customers.update_one({"customer_id": "C2"}, {"$set": {"attributes": "oops"}})
    accept_batch(db, "customers", [{"customer_id": c, "attributes": {"rating": 2}} for c in ("C1", "C2")], by=CLI)
    assert [db.customers.find_one({"customer_id": c})["attributes"] for c in ("C1", "C2")] == [{"rating": 2.0}] * 2


def test_a_file_past_the_attribute_limit_registers_nothing(db, monkeypatch):
    from crm.ingest import attribute_registry

    monkeypatch.setattr(attribute_registry, "MAX_ATTRIBUTES", 2)
    data = io.BytesIO(b"customer_id,A,B,C\nC1,1,2,3\n")
    mapping = {"customer_id": "customer_id", "A": "attr.a", "B": "attr.b", "C": "attr.c"}
    with pytest.raises(InvalidInput, match="may have 2"):
        import_csv(db, "customers", data, mapping, by=CLI, new_attributes=[(h, "number") for h in "ABC"])
    assert registered(db) == ()


def test_an_attribute_registered_while_the_copy_reads_is_not_lost(imported, db, monkeypatch):
    """An import registers an attribute and writes its values between the copy's registry read
    and its document read: the copy reads the customers again with the new attribute."""
    from crm.analytics import analytic_copy
    from crm.analytics.segment_preview import count

    copy = analytic_copy.open_copy()
    real = analytic_copy.registered
    calls = []

    def registered_then_import(database):
        calls.append(1)
        if len(calls) == 1:  # the copy's first look: the import happens right after it
            before = real(database)
            # another process's import: registered, then the value written (no refresh here)
            register_attribute(database, "Shoe Size", "number", by=CLI)
            database.customers.update_one(
                {"customer_id": "C1"}, {"$set": {"attributes.shoe_size": 9.0, "updated_at": datetime.now(UTC)}}
            )
            return before
        return real(database)

    monkeypatch.setattr(analytic_copy, "registered", registered_then_import)
    copy.refresh()
    monkeypatch.setattr(analytic_copy, "registered", real)
    rule = {"op": "and", "rules": [{"field": "attr.shoe_size", "operator": "=", "value": 9}]}
    assert count(rule) == 1
