"""`python -m crm segment count|export|describe` on a real database, in a child process."""

from __future__ import annotations

import csv
import json

import pytest

from crm.analytics.audience_columns import COLUMNS
from crm.ingest.records import validate_records
from crm.ingest.writer import write_records

RULE = {
    "op": "and",
    "rules": [
        {"field": "city", "operator": "in", "value": ["Mumbai", "Pune"]},
        {"field": "total_spend", "operator": ">=", "value": 100},
    ],
}


@pytest.fixture
def loaded(db, tmp_path):
    customers = [
        {
            "customer_id": f"c{i:02d}",
            "name": f"Name {i}",
            "city": ["Mumbai", "Pune", "Delhi"][i % 3],
            "tags": ["vip", "new"] if i % 4 == 0 else [],
        }
        for i in range(30)
    ]
    orders = [
        {"order_id": f"o{i}", "customer_id": f"c{i % 30:02d}", "amount": "60.50", "order_date": "2025-05-01"}
        for i in range(50)
    ]
    for kind, rows in (("customers", customers), ("orders", orders)):
        write_records(db, kind, validate_records(kind, rows).valid)
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(RULE))
    return path


def expected_count() -> int:
    # c00..c29: orders o0..o49 give c00..c19 two orders (121.00) and c20..c29 one (60.50).
    return sum(1 for i in range(20) if i % 3 != 2)


def test_count_prints_the_audience_size_last(cli, loaded):
    result = cli("segment", "count", str(loaded), "--as-of", "2025-06-30", check=True)
    assert result.stdout.strip().splitlines()[-1] == str(expected_count())


def test_export_writes_as_many_rows_as_count_with_a_header(cli, loaded, tmp_path):
    out = tmp_path / "audience.csv"
    cli("segment", "export", str(loaded), "-o", str(out), check=True)
    with open(out, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(COLUMNS)
    assert len(rows) - 1 == expected_count()
    first = dict(zip(rows[0], rows[1]))
    assert first["customer_id"] == "c00" and first["tags"] == "vip;new" and first["total_spend"] == "121.00"


def test_export_of_chosen_columns(cli, loaded, tmp_path):
    out = tmp_path / "ids.csv"
    cli(
        "segment",
        "export",
        str(loaded),
        "-o",
        str(out),
        "--columns",
        "customer_id,days_since_last_order",
        "--as-of",
        "2025-05-11",
        check=True,
    )
    rows = list(csv.reader(open(out, newline="")))
    assert rows[0] == ["customer_id", "days_since_last_order"]
    assert rows[1] == ["c00", "10"]


def test_describe_prints_english(cli, loaded):
    text = cli("segment", "describe", str(loaded), check=True).stdout.strip()
    assert "Mumbai" in text and "₹100" in text


@pytest.mark.parametrize(
    "content, where",
    [
        ('{"op": "and", "rules": [', "line 1"),
        ('{"op": "and", "rules": [{"field": "shoe_size", "operator": "=", "value": 9}]}', "rules[0].field"),
        ('{"op": "and", "rules": []}', "rules"),
    ],
)
def test_bad_rule_files_fail_with_one_line_and_exit_2(cli, crm_env, tmp_path, content, where):
    path = tmp_path / "bad.json"
    path.write_text(content)
    for action in ("count", "describe"):
        result = cli("segment", action, str(path))
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and where in lines[0]
        assert str(path) in lines[0]


def test_missing_file_bad_date_and_unknown_column_fail_clearly(cli, loaded, tmp_path):
    cases = [
        (("segment", "count", str(tmp_path / "nope.json")), "no such file"),
        (("segment", "count", str(loaded), "--as-of", "2025-02-30"), "--as-of"),
        (("segment", "export", str(loaded), "-o", str(tmp_path / "x.csv"), "--columns", "shoe_size"), "shoe_size"),
    ]
    for args, words in cases:
        result = cli(*args)
        assert result.returncode == 2 and words in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.csv").exists()


def test_exported_times_are_iso_8601_with_their_offset_to_the_second(cli, db, tmp_path):
    customers = [
        {"customer_id": "c1", "signup_date": "2024-03-01T16:00:00.250+05:30"},
        {"customer_id": "c2", "signup_date": "2024-03-01"},  # a date alone: that calendar day
    ]
    orders = [
        {"order_id": "o1", "customer_id": "c1", "amount": "10", "order_date": "2024-03-02T09:15:30.999Z"},
        {"order_id": "o2", "customer_id": "c1", "amount": "10", "order_date": "2024-03-05T00:00:00Z"},
    ]
    for kind, rows in (("customers", customers), ("orders", orders)):
        write_records(db, kind, validate_records(kind, rows).valid)
    rules = tmp_path / "everyone.json"
    rules.write_text(json.dumps({"op": "and", "rules": [{"field": "customer_id", "operator": "is_not_empty"}]}))
    out = tmp_path / "times.csv"
    columns = "customer_id,signup_date,first_order_date,last_order_date"
    cli("segment", "export", str(rules), "-o", str(out), "--columns", columns, check=True)
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows == [
        {
            "customer_id": "c1",
            "signup_date": "2024-03-01T10:30:00+00:00",
            "first_order_date": "2024-03-02T09:15:30+00:00",
            "last_order_date": "2024-03-05T00:00:00+00:00",
        },
        {
            "customer_id": "c2",
            "signup_date": "2024-03-01T00:00:00+00:00",
            "first_order_date": "",
            "last_order_date": "",
        },
    ]
