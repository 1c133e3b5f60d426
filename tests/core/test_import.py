"""CSV import into the real embedded database: strict by default, idempotent, mapped, reported."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pymongo
import pytest
from pymongo import monitoring

import crm.analytics
from crm import store
from crm.auth import CLI
from crm.errors import InvalidInput
from crm.ingest.csv_import import ImportRejected, errors_to_csv, import_csv, read_header, read_rows, suggest_mapping
from crm.ingest.records import RowError, check_customers_exist, validate_records
from crm.ingest.writer import write_records
from tests.support import ROOT

SAMPLES = ROOT / "data" / "samples"
CUSTOMERS = "customer_id,name,email,city,signup_date,tags\n"


def write_csv(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def docs(db, kind: str) -> dict[str, dict]:
    id_field = "customer_id" if kind == "customers" else "order_id"
    return {doc[id_field]: doc for doc in db[kind].find({}, {"_id": 0})}


@pytest.fixture
def customers_csv(tmp_path):
    return write_csv(
        tmp_path,
        "customers.csv",
        CUSTOMERS
        + (
            "C1,अमित शर्मा,Amit@Example.com,Mumbai,2024-03-01T00:10:00+05:30,vip;app\n"
            "C2,Zoë 😀,zoe@example.com,Pune,2024-01-15,\n"
            "C3,Priya,,Delhi,,newsletter\n"
        ),
    )


def test_sample_files_import_cleanly_customers_first(db):
    customers = import_csv(db, "customers", SAMPLES / "customers.csv", by=CLI)
    orders = import_csv(db, "orders", SAMPLES / "orders.csv", by=CLI)
    assert (customers.rows_read, customers.inserted, customers.rejected) == (20, 20, [])
    assert (orders.rows_read, orders.inserted, orders.rejected) == (20, 20, [])
    assert db.orders.count_documents({}) == 20


def test_import_stores_unicode_utc_dates_and_lower_cased_email(db, customers_csv):
    report = import_csv(db, "customers", customers_csv, by=CLI)
    assert (report.inserted, report.updated, report.unchanged) == (3, 0, 0)
    stored = docs(db, "customers")
    assert stored["C1"]["name"] == "अमित शर्मा" and stored["C2"]["name"] == "Zoë 😀"
    assert stored["C1"]["email"] == "amit@example.com" and stored["C3"]["email"] is None
    assert stored["C1"]["signup_date"] == datetime(2024, 2, 29, 18, 40, tzinfo=UTC)
    assert stored["C2"]["signup_date"] == datetime(2024, 1, 15, tzinfo=UTC)  # a date alone: that day
    assert stored["C1"]["tags"] == ["vip", "app"] and stored["C2"]["tags"] == []
    assert {channel: c["status"] for channel, c in stored["C1"]["consent"].items()} == {
        "email": "unknown",
        "sms": "unknown",
        "whatsapp": "unknown",
    }  # never assumed
    assert stored["C1"]["created_at"] == stored["C1"]["updated_at"]


def test_reimporting_the_same_file_changes_nothing(db, customers_csv):
    import_csv(db, "customers", customers_csv, by=CLI)
    before = docs(db, "customers")
    report = import_csv(db, "customers", customers_csv, by=CLI)
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 3)
    assert docs(db, "customers") == before  # updated_at included
    assert db.customers.count_documents({}) == 3


def test_a_changed_row_is_updated_and_only_the_columns_in_the_file_change(db, tmp_path, customers_csv):
    import_csv(db, "customers", customers_csv, by=CLI)
    before = docs(db, "customers")
    partial = write_csv(tmp_path, "cities.csv", "customer_id,city\nC1,Pune\nC2,Pune\n")
    report = import_csv(db, "customers", partial, by=CLI)
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 1)
    after = docs(db, "customers")
    assert after["C1"]["city"] == "Pune" and after["C1"]["name"] == "अमित शर्मा"
    assert after["C1"]["updated_at"] > before["C1"]["updated_at"]
    assert after["C1"]["created_at"] == before["C1"]["created_at"]
    assert after["C2"] == before["C2"]


def test_an_empty_cell_clears_a_value_and_a_consent_column_changes_only_its_channel(db, tmp_path, customers_csv):
    import_csv(db, "customers", customers_csv, by=CLI)
    update = write_csv(tmp_path, "u.csv", "customer_id,email,consent_sms\nC1,,no\n")
    assert import_csv(db, "customers", update, by=CLI).updated == 1
    stored = docs(db, "customers")["C1"]
    assert stored["email"] is None
    assert {channel: c["status"] for channel, c in stored["consent"].items()} == {
        "email": "unknown",
        "sms": "no",
        "whatsapp": "unknown",
    }
    assert stored["consent"]["sms"]["source"] == "file u.csv (imported by cli)"


def test_strict_import_writes_nothing_when_any_row_is_invalid(db, tmp_path):
    path = write_csv(
        tmp_path, "c.csv", CUSTOMERS + "C1,Ok,ok@example.com,,,\nC2,Bad,not-an-email,,,\nC3,Bad date,,,2024-02-30,\n"
    )
    with pytest.raises(ImportRejected) as caught:
        import_csv(db, "customers", path, by=CLI)
    assert db.customers.count_documents({}) == 0
    report = caught.value.report
    assert [(e.row, e.column) for e in report.rejected] == [(3, "email"), (4, "signup_date")]
    assert "2 of 3 rows are invalid, nothing was imported" in str(caught.value)
    assert isinstance(caught.value, InvalidInput)


def test_control_and_bidi_characters_are_refused_per_row_and_column(db, tmp_path):
    path = write_csv(
        tmp_path,
        "c.csv",
        "Customer,Full name,Town\nC1,Asha,Pune\nC2,Ravi\x1b[2J,Pune\nC\x003,Meera,Pune\nC4,Vikram,\u202eenuP\n",
    )
    with pytest.raises(ImportRejected) as caught:
        import_csv(
            db, "customers", path, mapping={"Customer": "customer_id", "Full name": "name", "Town": "city"}, by=CLI
        )
    rejected = caught.value.report.rejected
    assert [(e.row, e.column) for e in rejected] == [(3, "Full name"), (4, "Customer"), (5, "Town")]
    assert rejected[0].reason.startswith("contains ESC (U+001B) at position 5")
    assert rejected[1].reason.startswith("contains NUL (U+0000) at position 2")
    assert rejected[2].reason.startswith("contains right-to-left override (U+202E) at position 1")
    assert db.customers.count_documents({}) == 0


def test_an_age_of_true_in_json_is_refused_but_a_number_in_a_csv_cell_is_read(db):
    assert validate_records("customers", [{"customer_id": "C1", "age": True}]).errors == [
        RowError(1, "age", "must be a whole number, not true")
    ]
    assert validate_records("customers", [{"customer_id": "C1", "age": "41"}]).valid[0].age == 41


def test_skip_invalid_writes_valid_rows_and_the_rejected_file_keeps_original_columns(db, tmp_path):
    path = write_csv(
        tmp_path,
        "o.csv",
        "Order No,Cust ID,Total,Status,Date,Note\n"
        "O1,C1,10.50,completed,2024-03-01,ok\n"
        "O2,C1,-3,completed,2024-03-01,negative\n"
        "O3,C404,1.00,completed,2024-03-01,unknown customer\n"
        "O4,C1,1.234,lost,2024-03-01,two problems\n"
        "O1,C1,10.50,completed,2024-03-01,repeat\n",
    )
    import_csv(db, "customers", write_csv(tmp_path, "c.csv", "customer_id\nC1\n"), by=CLI)
    rejected = tmp_path / "rejected.csv"
    report = import_csv(db, "orders", path, skip_invalid=True, rejected_path=rejected, by=CLI)
    assert (report.rows_read, report.inserted) == (5, 1)
    assert list(docs(db, "orders")) == ["O1"] and docs(db, "orders")["O1"]["amount"] == 1050
    lines = list(csv.DictReader(io.StringIO(rejected.read_text(encoding="utf-8"))))
    assert [line["row"] for line in lines] == ["3", "4", "5", "6"]  # the header is row 1
    assert [line["Note"] for line in lines] == ["negative", "unknown customer", "two problems", "repeat"]
    by_row = {line["row"]: line for line in lines}
    assert by_row["3"]["column"] == "Total" and "negative" in by_row["3"]["reason"]
    assert by_row["4"]["column"] == "Cust ID" and "unknown customer 'C404'" in by_row["4"]["reason"]
    assert by_row["5"]["column"] == "Total; Status"
    assert "same as row 2" in by_row["6"]["reason"]


def test_orders_of_unknown_customers_are_rejected_in_one_batched_check(db):
    db.customers.insert_many([{"customer_id": f"C{i}"} for i in range(1500)])
    orders = validate_records(
        "orders",
        [
            {"order_id": f"O{i}", "customer_id": f"C{i}", "amount": "1", "order_date": "2024-01-01"}
            for i in range(1495, 1505)
        ],
    ).valid
    errors = check_customers_exist(db, orders, rows=[i + 2 for i in range(10)])
    assert [(e.row, e.column) for e in errors] == [
        (7, "customer_id"),
        (8, "customer_id"),
        (9, "customer_id"),
        (10, "customer_id"),
        (11, "customer_id"),
    ]
    assert "unknown customer 'C1500'" in errors[0].reason


def test_customer_ids_that_look_like_operators_are_matched_literally(db):
    db.customers.insert_one({"customer_id": "C1"})
    orders = validate_records(
        "orders", [{"order_id": "O1", "customer_id": '{"$ne": null}', "amount": "1", "order_date": "2024-01-01"}]
    ).valid
    assert len(check_customers_exist(db, orders)) == 1


@pytest.mark.parametrize(
    "header, expected",
    [
        (
            ["Customer ID", "Full Name", "E-mail", "Mobile", "City"],
            {"Customer ID": "customer_id", "Full Name": "name", "E-mail": "email", "Mobile": "phone", "City": "city"},
        ),
        (
            ["cust_id", "EMAIL ADDRESS", "Created", "Labels"],
            {"cust_id": "customer_id", "EMAIL ADDRESS": "email", "Created": "signup_date", "Labels": "tags"},
        ),
        (["id", "signup_date", "date"], {"id": "customer_id", "signup_date": "signup_date"}),
        (["Unrelated", "Columns"], {}),
    ],
)
def test_customer_column_suggestions(header, expected):
    assert suggest_mapping("customers", header) == expected


@pytest.mark.parametrize(
    "header, expected",
    [
        (
            ["Order ID", "Customer ID", "Total", "Status", "Date"],
            {
                "Order ID": "order_id",
                "Customer ID": "customer_id",
                "Total": "amount",
                "Status": "status",
                "Date": "order_date",
            },
        ),
        (
            ["order_no", "cust_id", "price", "created"],
            {"order_no": "order_id", "cust_id": "customer_id", "price": "amount", "created": "order_date"},
        ),
        (["ORDER_DATE", "date", "Amount"], {"ORDER_DATE": "order_date", "Amount": "amount"}),
    ],
)
def test_order_column_suggestions(header, expected):
    assert suggest_mapping("orders", header) == expected


def test_an_explicit_mapping_reads_only_the_mapped_columns(db, tmp_path):
    path = write_csv(tmp_path, "c.csv", "Ref,Who,Secret\nK1,Asha,x\nK2,Ravi,y\n")
    report = import_csv(db, "customers", path, mapping={"Ref": "customer_id", "Who": "name"}, by=CLI)
    assert report.inserted == 2
    assert docs(db, "customers")["K1"]["name"] == "Asha" and "Secret" not in docs(db, "customers")["K1"]


@pytest.mark.parametrize(
    "mapping, message",
    [
        ({"Who": "name"}, "required column customer_id is missing"),
        ({"Nope": "customer_id"}, "column 'Nope' is not in the file"),
        ({"Ref": "customer_id", "Who": "nickname"}, "'nickname' is not a field of customers"),
        ({"Ref": "customer_id", "Who": "customer_id"}, "are both mapped to customer_id"),
    ],
)
def test_bad_mappings_say_what_is_wrong(db, tmp_path, mapping, message):
    path = write_csv(tmp_path, "c.csv", "Ref,Who\nK1,Asha\n")
    with pytest.raises(InvalidInput, match=message):
        import_csv(db, "customers", path, mapping=mapping, by=CLI)
    with pytest.raises(InvalidInput, match=message):
        list(read_rows(path, mapping, kind="customers"))


def test_orders_file_without_an_amount_column_names_it(db, tmp_path):
    path = write_csv(tmp_path, "o.csv", "order_id,customer_id,order_date\nO1,C1,2024-01-01\n")
    with pytest.raises(InvalidInput, match="required column amount is missing"):
        import_csv(db, "orders", path, by=CLI)


def test_utf8_with_bom_and_file_like_sources_are_read(db):
    data = io.BytesIO("\ufeffcustomer_id,name\nC1,Ärger\n".encode())
    assert read_header(data) == ["customer_id", "name"]
    assert import_csv(db, "customers", data, by=CLI).inserted == 1
    assert docs(db, "customers")["C1"]["name"] == "Ärger"
    assert not data.closed


def test_text_streams_are_read_too(db):
    report = import_csv(db, "customers", io.StringIO("customer_id,name\nC1,Asha\n"), by=CLI)
    assert report.inserted == 1


def test_a_file_that_is_not_utf8_is_rejected_clearly(db, tmp_path):
    path = write_csv(tmp_path, "latin.csv", "customer_id,name\nC1,Ärger\n", encoding="latin-1")
    with pytest.raises(InvalidInput, match="not UTF-8 text"):
        import_csv(db, "customers", path, by=CLI)


@pytest.mark.parametrize("text, message", [("", "the file is empty"), ("\n\n", "the file is empty")])
def test_an_empty_file_is_rejected(db, tmp_path, text, message):
    with pytest.raises(InvalidInput, match=message):
        import_csv(db, "customers", write_csv(tmp_path, "e.csv", text), by=CLI)


def test_rows_with_the_wrong_number_of_cells_are_reported_and_blank_lines_skipped(db, tmp_path):
    path = write_csv(tmp_path, "c.csv", "customer_id,name\nC1,A\n\nC2,B,extra\nC3,C\n")
    with pytest.raises(ImportRejected) as caught:
        import_csv(db, "customers", path, by=CLI)
    assert caught.value.report.rejected == [RowError(4, "", "the row has 3 cells, the header has 2")]


def test_errors_to_csv_lists_row_column_reason():
    text = errors_to_csv([RowError(2, "email", "bad, really"), RowError(5, "age", "too old")])
    assert list(csv.reader(io.StringIO(text))) == [
        ["row", "column", "reason"],
        ["2", "email", "bad, really"],
        ["5", "age", "too old"],
    ]


def test_writer_reports_progress_and_refreshes_analytics_once(db, monkeypatch):
    calls = []
    monkeypatch.setattr(crm.analytics, "after_write", calls.append)
    records = validate_records("customers", [{"customer_id": f"C{i}"} for i in range(2500)]).valid
    seen = []
    result = write_records(db, "customers", records, progress=lambda done, total: seen.append((done, total)))
    assert (result.inserted, calls) == (2500, ["customers"])
    assert seen[-1] == (2500, 2500) and len(seen) == 3
    assert write_records(db, "customers", records).unchanged == 2500
    assert calls == ["customers"]  # nothing changed: no refresh


def test_existing_records_after_an_all_new_chunk_are_updated_not_duplicated(db):
    db.customers.insert_many([{"customer_id": f"C{i}", "name": "Old"} for i in range(1500, 1510)])
    records = validate_records("customers", [{"customer_id": f"C{i}", "name": "New"} for i in range(2000)]).valid
    result = write_records(db, "customers", records)
    assert (result.inserted, result.updated, result.unchanged) == (1990, 10, 0)
    assert db.customers.count_documents({}) == 2000
    assert db.customers.count_documents({"name": "New"}) == 2000
    assert db.customers.find_one({"customer_id": "C1505"})["updated_at"] is not None


class InsertsACompetingRecord(monitoring.CommandListener):
    """Plays another writer that inserts the same id between our lookup and our insert."""

    def __init__(self, uri: str, db_name: str):
        self.uri, self.db_name, self.done = uri, db_name, False

    def started(self, event):
        if event.command_name == "insert" and not self.done:
            self.done = True
            with pymongo.MongoClient(self.uri) as other:
                other[self.db_name].customers.insert_one({"customer_id": "C2", "name": "Other writer"})

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


def test_a_record_inserted_by_another_writer_meanwhile_is_updated_not_duplicated(db):
    uri = store.database_uri()
    listener = InsertsACompetingRecord(uri, db.name)
    with pymongo.MongoClient(uri, tz_aware=True, event_listeners=[listener]) as client:
        records = validate_records("customers", [{"customer_id": f"C{i}", "name": "Ours"} for i in range(1, 4)]).valid
        result = write_records(client[db.name], "customers", records)
    assert listener.done
    assert (result.inserted, result.updated) == (2, 1)
    stored = list(db.customers.find({}, {"_id": 0, "customer_id": 1, "name": 1}))
    assert sorted((d["customer_id"], d["name"]) for d in stored) == [("C1", "Ours"), ("C2", "Ours"), ("C3", "Ours")]


def test_cli_imports_and_prints_a_json_summary(cli, db):
    result = cli("import", "customers", str(SAMPLES / "customers.csv"), check=True)
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["inserted"] == 20 and summary["rejected_rows"] == 0
    again = json.loads(
        cli("import", "customers", str(SAMPLES / "customers.csv"), check=True).stdout.strip().splitlines()[-1]
    )
    assert (again["inserted"], again["unchanged"]) == (0, 20)
    assert db.customers.count_documents({}) == 20


def test_cli_strict_failure_lists_errors_exits_2_and_writes_nothing(cli, db, tmp_path):
    rows = "".join(f"O{i},C1,-{i},completed,2024-01-01\n" for i in range(1, 26))
    path = write_csv(tmp_path, "o.csv", "order_id,customer_id,amount,status,order_date\n" + rows)
    result = cli("import", "orders", str(path))
    assert result.returncode == 2 and result.stdout == ""
    assert "row 2, amount: the amount must not be negative" in result.stderr
    assert "row 21," in result.stderr and "row 22," not in result.stderr  # the first 20
    assert "25 problems in total" in result.stderr
    assert "Traceback" not in result.stderr
    assert db.orders.count_documents({}) == 0


def test_cli_skip_invalid_with_rejected_file_and_column_map(cli, db, tmp_path):
    path = write_csv(tmp_path, "c.csv", "Ref,Mail,Note\nK1,k1@example.com,a\nK2,nope,b\n")
    rejected = tmp_path / "rejected.csv"
    result = cli(
        "import",
        "customers",
        str(path),
        "--skip-invalid",
        "--rejected",
        str(rejected),
        "--map",
        "Ref=customer_id",
        "--map",
        "Mail=email",
        check=True,
    )
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert (summary["inserted"], summary["rejected_rows"], summary["rejected_file"]) == (1, 1, str(rejected))
    assert "row 3, Mail:" in result.stderr
    assert rejected.read_text(encoding="utf-8").splitlines()[1].startswith("K2,nope,b,3,Mail,")
    assert list(docs(db, "customers")) == ["K1"]


def test_cli_bad_map_argument_is_one_clear_line(cli, tmp_path):
    path = write_csv(tmp_path, "c.csv", "Ref\nK1\n")
    result = cli("import", "customers", str(path), "--map", "Ref")
    assert result.returncode == 2 and "should look like COLUMN=FIELD" in result.stderr
    assert "Traceback" not in result.stderr
