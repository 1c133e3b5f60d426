"""Files as Indian shops and billing systems export them: day-first dates, rupee signs, lakh
grouping. Each is read exactly, refused with a reason in our words, or (for a date that reads
either way) asked about: never guessed."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from crm.auth import CLI
from crm.config import load_settings
from crm.ingest.csv_import import ImportRejected, import_csv
from crm.ingest.date_columns import detect_file_dates
from crm.ingest.dates import detect_date_format
from crm.ingest.preview import first_rows_as_stored
from crm.ingest.reading import Reading, workspace_reading
from crm.ingest.records import validate_records

DAY_FIRST, MONTH_FIRST, YEAR_FIRST = Reading("DD/MM/YYYY"), Reading("MM/DD/YYYY"), Reading("YYYY-MM-DD")
IST = ZoneInfo("Asia/Kolkata")


def order_date(text: str, reading: Reading = Reading()) -> datetime | str:
    """The stored order date of one order row, or the reason it was refused."""
    row = {"order_id": "O1", "customer_id": "C1", "amount": "1", "order_date": text}
    result = validate_records("orders", [row], reading=reading)
    return result.valid[0].order_date if result.valid else result.errors[0].reason


def ist(*parts: int) -> datetime:
    """A time in the workspace zone, as stored (UTC)."""
    return datetime(*parts, tzinfo=IST).astimezone(UTC)


def day(*parts: int) -> datetime:
    """A date alone, as stored: that calendar day (midnight UTC), as rules compare days."""
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    "text, reading, expected",
    [
        ("15/06/2022", DAY_FIRST, day(2022, 6, 15)),
        ("15-06-2022", DAY_FIRST, day(2022, 6, 15)),
        ("15.06.2022", DAY_FIRST, day(2022, 6, 15)),
        ("5/6/2022", DAY_FIRST, day(2022, 6, 5)),
        ("15/06/2022 10:30", DAY_FIRST, ist(2022, 6, 15, 10, 30)),
        ("15/06/2022 22:30:05", DAY_FIRST, ist(2022, 6, 15, 22, 30, 5)),
        ("15/06/2022 10:30 pm", DAY_FIRST, ist(2022, 6, 15, 22, 30)),
        ("15/06/2022 12:05 AM", DAY_FIRST, ist(2022, 6, 15, 0, 5)),
        ("15/06/2022 10:30+00:00", DAY_FIRST, datetime(2022, 6, 15, 10, 30, tzinfo=UTC)),
        ("06/15/2022", MONTH_FIRST, day(2022, 6, 15)),
        ("06-15-2022 9:00 am", MONTH_FIRST, ist(2022, 6, 15, 9)),
        ("2022/06/15", YEAR_FIRST, day(2022, 6, 15)),
        ("2022.06.15 08:00", YEAR_FIRST, ist(2022, 6, 15, 8)),
        # ISO 8601 is always read, whatever format the file's other dates have.
        ("2022-06-15", DAY_FIRST, day(2022, 6, 15)),
        ("2022-06-15T10:30:00+05:30", MONTH_FIRST, datetime(2022, 6, 15, 5, 0, tzinfo=UTC)),
    ],
)
def test_each_date_format_is_read_in_the_workspace_zone_and_stored_utc(text, reading, expected):
    assert order_date(text, reading) == expected


@pytest.mark.parametrize(
    "text, reading, reason",
    [
        ("15/06/2022", Reading(), "choose the file's date format"),
        ("31/02/2024", DAY_FIRST, "day is out of range for month"),
        ("15/06/22", DAY_FIRST, "write the year with four digits"),
        ("06/15/2022", DAY_FIRST, "month must be in 1..12"),
        ("15/06/2022 13:00 pm", DAY_FIRST, "with am/pm the hour is 1 to 12"),
        ("15/06/2022 25:00", DAY_FIRST, "no valid time"),
        ("next tuesday", DAY_FIRST, "is not a date as DD/MM/YYYY, e.g. 15/03/2024"),
    ],
)
def test_a_date_that_is_not_one_says_why_in_our_words(text, reading, reason):
    refused = order_date(text, reading)
    assert isinstance(refused, str) and reason in refused, refused
    assert "Input should" not in refused


def test_the_workspace_time_zone_is_a_setting():
    utc = workspace_reading(replace(load_settings(), time_zone="UTC"), "DD/MM/YYYY")
    assert order_date("15/06/2022 10:30", utc) == datetime(2022, 6, 15, 10, 30, tzinfo=UTC)
    assert "a time without an offset is in UTC, stored in UTC" in utc.describe()
    assert "in Asia/Kolkata" in workspace_reading(load_settings()).describe()


@pytest.mark.parametrize(
    "values, decided, ambiguous, says",
    [
        (["01/02/2024", "15/06/2022"], "DD/MM/YYYY", False, "'15/06/2022' has a day above 12"),
        (["01/02/2024", "06/15/2022"], "MM/DD/YYYY", False, "'06/15/2022' has a day above 12"),
        (["2024/02/01", "2024-03-04"], "YYYY-MM-DD", False, "year first"),
        (["01/02/2024", "03/04/2024"], None, True, "read either way"),
        (["15/06/2022", "06/15/2022"], None, True, "mixes day-first ('15/06/2022') and month-first"),
        (["2024-03-04", "", "2024-03-05T10:00:00Z"], None, False, "ISO 8601"),
    ],
)
def test_a_columns_values_decide_its_format_or_we_ask(values, decided, ambiguous, says):
    found = detect_date_format(values, "column 'Date'")
    assert (found.date_format, found.ambiguous) == (decided, ambiguous)
    assert says in found.evidence


def test_the_file_detection_reads_every_mapped_date_column():
    data = b"Cust,Joined,First\nC1,01/02/2024,x\nC2,25/12/2023,y\n"
    found = detect_file_dates(io.BytesIO(data), {"Cust": "customer_id", "Joined": "signup_date"})
    assert (found.date_format, found.ambiguous) == ("DD/MM/YYYY", False)
    assert "column 'Joined' is day first" in found.explain()


def amount(text: str) -> int | str:
    row = {"order_id": "O1", "customer_id": "C1", "amount": text, "order_date": "2024-01-01"}
    result = validate_records("orders", [row])
    return result.valid[0].amount_paise if result.valid else result.errors[0].reason


@pytest.mark.parametrize(
    "text, paise",
    [
        ("₹900", 90_000),
        ("₹ 1,299.50", 129_950),
        ("Rs. 1,25,000", 1_25_000_00),
        ("Rs 1,25,000.05", 1_25_000_05),
        ("rs.499", 49_900),
        ("INR 5,000", 5_000_00),
        ("5,000 INR", 5_000_00),
        ("1,250.50", 125_050),
        ("125,000.50", 125_000_50),
        ("1,00,00,000", 1_00_00_000_00),
        ("12,345,678.9", 12_345_678_90),
        ("750 ₹", 75_000),
        ("Rs. 1,25,000/-", 1_25_000_00),
        ("₹500/-", 50_000),
    ],
)
def test_rupee_signs_and_indian_or_western_grouping_are_exact_paise(text, paise):
    assert amount(text) == paise


@pytest.mark.parametrize(
    "text, reason",
    [
        ("12,50", "commas in the wrong places"),
        ("1,2345", "commas in the wrong places"),
        ("₹1,25,00", "commas in the wrong places"),
        ("₹1,299.505", "more than 2 decimals"),
        ("₹-5", "must not be negative"),
        ("-1,000", "must not be negative"),
        ("$50", "is not a number of rupees, e.g. 1299.50, ₹1,299.50 or Rs. 1,25,000"),
    ],
)
def test_an_amount_we_cannot_read_exactly_is_refused_with_the_reason(text, reason):
    refused = amount(text)
    assert isinstance(refused, str) and reason in refused, refused


DAY_FIRST_ORDERS = (
    'Order No,Customer,Total,Date\nA1,C1,"₹1,250.50",15/06/2022\nA2,C1,"Rs. 1,25,000",01/07/2022 6:30 pm\n'
)
AMBIGUOUS_ORDERS = "order_id,customer_id,amount,order_date\nB1,C1,10,03/04/2022\nB2,C1,10,05/06/2022\n"


@pytest.fixture
def customer(db):
    import_csv(db, "customers", io.BytesIO(b"customer_id\nC1\n"), by=CLI)


def test_the_cli_reads_a_day_first_file_it_detects_and_says_so(cli, db, customer, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(DAY_FIRST_ORDERS, encoding="utf-8")
    result = cli("import", "orders", str(path), check=True)
    assert "date format DD/MM/YYYY, detected: column 'Date' is day first" in result.stderr
    assert "a time without an offset is in Asia/Kolkata, stored in UTC" in result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["inserted"] == 2
    stored = {o["order_id"]: o for o in db.orders.find()}
    assert stored["A1"]["amount"] == 125_050 and stored["A2"]["amount"] == 1_25_000_00
    assert stored["A1"]["order_date"] == day(2022, 6, 15)
    assert stored["A2"]["order_date"] == ist(2022, 7, 1, 18, 30)


def test_the_cli_stops_on_dates_that_read_either_way_and_names_the_option(cli, db, customer, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(AMBIGUOUS_ORDERS, encoding="utf-8")
    refused = cli("import", "orders", str(path))
    assert refused.returncode == 2
    assert "read either way" in refused.stderr and "--date-format DD/MM/YYYY or MM/DD/YYYY" in refused.stderr
    assert db.orders.count_documents({}) == 0
    cli("import", "orders", str(path), "--date-format", "MM/DD/YYYY", check=True)
    assert db.orders.find_one({"order_id": "B1"})["order_date"] == day(2022, 3, 4)


def test_an_import_without_the_format_refuses_day_first_dates_it_was_not_told_of(db, customer):
    with pytest.raises(ImportRejected) as refused:
        import_csv(db, "orders", io.BytesIO(DAY_FIRST_ORDERS.encode()), by=CLI)
    assert "choose the file's date format" in refused.value.report.rejected[0].reason


def test_the_first_rows_are_shown_as_they_will_be_stored_with_problems_in_place():
    data = "customer_id,phone,gender,signup_date\nC1,098765 43210,Mahila,25/12/2023 6:00 pm\n\nC2,12,zebra,\n"
    mapping = {"customer_id": "customer_id", "phone": "phone", "gender": "gender", "signup_date": "signup_date"}
    rows = first_rows_as_stored("customers", io.BytesIO(data.encode()), mapping, DAY_FIRST)
    assert rows[0] == {
        "row": 2,
        "customer_id": "C1",
        "phone": "+919876543210",
        "gender": "female",
        "signup_date": "2023-12-25 18:00 Asia/Kolkata",  # a time: shown in the workspace zone
        "problem": "",
    }
    assert rows[1]["row"] == 4  # the blank line keeps its number
    assert "phone: '12' is not a phone number" in rows[1]["problem"]
    assert "gender: 'zebra' is not a gender we know" in rows[1]["problem"]


def test_a_day_first_date_alone_is_that_day_in_rules(db, fresh_copies):
    """01/03/2024 imported is 1 March in `signup_date on 2024-03-01`, not 29 February in UTC."""
    from crm.analytics import preview

    rows = "customer_id,signup_date\nS1,01/03/2024\nS2,01/03/2024 02:00\n"
    import_csv(db, "customers", io.BytesIO(rows.encode()), by=CLI, reading=DAY_FIRST)

    def count(day: str) -> int:
        return preview({"op": "and", "rules": [{"field": "signup_date", "operator": "on", "value": day}]}).count

    # 02:00 in Asia/Kolkata is 29 Feb 20:30 UTC: days compare in UTC, as the rule contract says.
    assert (count("2024-03-01"), count("2024-02-29")) == (1, 1)


def test_an_iso_shaped_date_that_is_no_date_says_why():
    refused = order_date("2024-02-30", DAY_FIRST)
    assert "'2024-02-30' is not a valid date (day is out of range for month)" in refused
