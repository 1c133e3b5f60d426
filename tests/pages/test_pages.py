"""The Home and Data pages under Streamlit's AppTest, on the test's own database."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from crm.demo import DemoSpec
from crm.formats.indian_numbers import as_text, format_count, format_inr_short
from crm.ui import auth
from tests.apptest_support import no_failures
from tests.auth_fixtures import sign_in
from tests.demo_copy import demo_data
from tests.support import ROOT

RUN_SECONDS = 120


def app() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=RUN_SECONDS)
    sign_in(at, "marketer")  # the pages are for signed-in users
    return at


def texts(elements) -> list[str]:
    return [element.value for element in elements]


def metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


@pytest.fixture
def demo_db(db):
    demo_data(db, DemoSpec(customers=300, orders=3_000, seed=3))
    return db


def test_empty_home_offers_demo_data_and_import(db):
    at = app()
    at.run()
    no_failures(at)
    assert any(button.label == "Load demo data" for button in at.button)
    assert [link.label for link in at.page_link] == ["Go to Data → Import"]
    assert not at.metric


def test_a_viewer_gets_no_demo_or_import_on_home_and_no_import_on_data(db):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=RUN_SECONDS)
    sign_in(at, "viewer")
    at.run()
    no_failures(at)
    assert not any(button.label == "Load demo data" for button in at.button) and not at.page_link
    assert "Only admins and marketers can load the demo data" in " ".join(c.value for c in at.caption)
    at.switch_page("app_pages/data.py").run()
    no_failures(at)
    assert not at.get("file_uploader") and not any(b.label.startswith("Import ") for b in at.button)
    assert "Imports are for admins and marketers" in " ".join(i.value for i in at.info)
    assert db.customers.count_documents({}) == 0


def test_load_demo_button_fills_the_store_and_shows_the_dashboard(db):
    at = app()
    at.run()
    at.selectbox(key="demo-size").select_index(1)  # the small demo keeps the test quick
    next(button for button in at.button if button.label == "Load demo data").click()
    at.run()
    no_failures(at)
    assert db.customers.count_documents({}) == 1_000
    campaign_orders = db.orders.count_documents({"order_id": {"$regex": "^ORD-SALE-"}})
    assert db.orders.count_documents({}) == 10_000 + campaign_orders and campaign_orders > 0
    assert db.campaigns.count_documents({"status": "completed"}) == 1  # the demo's past campaign
    assert metrics(at)["Customers"] == "1,000"
    assert metrics(at)["Orders"] == format_count(10_000 + campaign_orders)


def test_home_kpis_match_the_database(demo_db):
    orders = list(demo_db.orders.find())
    revenue = sum(order["amount"] for order in orders if order["status"] == "completed")
    since = datetime.combine(date.today() - timedelta(days=30), time(), UTC)
    active = {
        order["customer_id"] for order in orders if order["status"] == "completed" and order["order_date"] >= since
    }

    at = app()
    at.run()
    no_failures(at)
    assert metrics(at) == {
        "Customers": "300",
        "Orders": format_count(len(orders)),  # the demo's 3,000 and those its campaign brought
        "Revenue": format_inr_short(revenue),
        "Active in the last 30 days": format_count(len(active)),
    }
    assert len(at.get("plotly_chart")) == 2
    today = datetime.now(UTC).date()
    if date.today().day > 1:  # the demo's orders run to yesterday: this month is drawn as the month so far
        assert f"The last bar is {today:%b %Y} (1–{today.day}, so far): a month still under way." in texts(at.caption)


def test_every_page_runs_its_guard_on_every_run(db, monkeypatch):
    """Without a user nothing private renders, on the first run and on reruns after navigation."""

    def signed_out():
        st.warning("Please sign in")
        st.stop()

    monkeypatch.setattr(auth, "require_user", signed_out)
    at = app()
    at.run()
    assert texts(at.warning) == ["Please sign in"]
    assert not at.button and not at.metric and not at.title
    at.switch_page("app_pages/data.py")
    at.run()
    assert texts(at.warning) == ["Please sign in"]
    assert not at.tabs and not at.title
    at.run()
    assert not at.tabs and not at.title


BAD_ORDERS = (
    b"Order No,Customer,Total,Date\n"
    b"A1,CUST-000001,1299.50,2025-01-05\n"
    b"A2,CUST-000002,-5,2025-01-06\n"
    b"A3,nobody,10,not a date\n"
    b"A4,nobody,10,2025-01-07\n"
)


def open_import(db) -> AppTest:
    at = app()
    at.run()
    at.switch_page("app_pages/data.py")
    at.run()
    no_failures(at)
    return at


def test_bad_csv_gets_a_validation_report_before_anything_is_written(demo_db):
    at = open_import(demo_db)
    at.radio(key="import-kind").set_value("orders")
    at.file_uploader(key="import-file").set_value(("orders.csv", BAD_ORDERS, "text/csv"))
    at.run()
    no_failures(at)
    # The file's own column names were mapped onto ours.
    mapped = {box.label: box.value for box in at.selectbox if box.key and box.key.startswith("map:")}
    assert mapped == {"Order No": "order_id", "Customer": "customer_id", "Total": "amount", "Date": "order_date"}
    assert metrics(at)["Rows with problems"] == "3"
    reports = [table.value for table in at.table if list(table.value.columns) == ["column", "reason"]]
    assert len(reports) == 1
    problems = {(row, column) for row, column in reports[0]["column"].items()}
    assert {(3, "Total"), (4, "Date"), (5, "Customer")} <= problems
    assert len(at.get("download_button")) == 1
    import_button = next(button for button in at.button if button.label == "Import orders")
    assert import_button.disabled
    assert demo_db.orders.count_documents({"order_id": {"$in": ["A1", "A2", "A3", "A4"]}}) == 0

    at.checkbox(key="import-skip").check()
    at.run()
    next(button for button in at.button if button.label == "Import orders").click()
    at.run()
    no_failures(at)
    assert any("1 new" in message for message in texts(at.success))
    assert [o["order_id"] for o in demo_db.orders.find({"order_id": {"$in": ["A1", "A2", "A3", "A4"]}})] == ["A1"]
    assert demo_db.orders.find_one({"order_id": "A1"})["amount"] == 129_950


def test_a_file_with_blank_lines_shows_its_rows_and_imports(demo_db):
    """Exports often end in (or hold) empty lines: they are skipped, never shown as a failure."""
    at = open_import(demo_db)
    data = b"customer_id,name\nBL-1,Asha\n\nBL-2,Ravi\n\n"
    at.file_uploader(key="import-file").set_value(("blank-lines.csv", data, "text/csv"))
    at.run()
    no_failures(at)
    shown = next(frame.value for frame in at.dataframe if "customer_id" in frame.value.columns)
    assert list(shown["customer_id"]) == ["BL-1", "BL-2"]
    assert metrics(at)["Rows with problems"] == "0"
    next(button for button in at.button if button.label == "Import customers").click()
    at.run()
    no_failures(at)
    assert demo_db.customers.count_documents({"customer_id": {"$in": ["BL-1", "BL-2"]}}) == 2


def upload(db, kind: str, text: str) -> AppTest:
    """The Data page's import with this CSV text chosen as a file of `kind`."""
    at = open_import(db)
    at.radio(key="import-kind").set_value(kind)
    at.file_uploader(key="import-file").set_value((f"{kind}.csv", text.encode(), "text/csv"))
    at.run()
    no_failures(at)
    return at


def test_the_page_asks_for_the_date_format_when_the_dates_read_either_way(demo_db):
    customer = demo_db.customers.find_one()["customer_id"]
    at = upload(demo_db, "orders", f'order_id,customer_id,amount,order_date\nD1,{customer},"₹1,250",03/04/2022\n')
    assert any("Choose the date format" in w and "read either way" in w for w in texts(at.warning))
    assert not any(button.label == "Import orders" for button in at.button)  # nothing to import yet
    choice = next(box for box in at.selectbox if box.label == "Dates in this file")
    assert choice.value is None
    choice.set_value("Day first (15/03/2024)")
    at.run()
    no_failures(at)
    assert metrics(at)["Valid rows"] == "1"
    assert any("without an offset is in Asia/Kolkata" in caption for caption in texts(at.caption))
    stored = next(frame.value for frame in at.dataframe if "order_date" in frame.value.columns)
    assert stored.iloc[0][["amount", "order_date"]].tolist() == ["₹1,250.00", "2022-04-03"]
    next(button for button in at.button if button.label == "Import orders").click()
    at.run()
    no_failures(at)
    stored = demo_db.orders.find_one({"order_id": "D1"})
    assert stored["amount"] == 125_000
    assert stored["order_date"] == datetime(2022, 4, 3, tzinfo=UTC)  # 3 April: a date alone is that day


def test_a_day_first_column_is_detected_and_said(demo_db):
    customer = demo_db.customers.find_one()["customer_id"]
    at = upload(demo_db, "orders", f"order_id,customer_id,amount,order_date\nD2,{customer},10,25/12/2023\n")
    assert next(box for box in at.selectbox if box.label == "Dates in this file").value == "Day first (15/03/2024)"
    assert any("'25/12/2023' has a day above 12" in caption for caption in texts(at.caption))
    assert metrics(at)["Valid rows"] == "1"


def test_mapping_without_a_required_column_is_an_error_not_a_trace(demo_db):
    at = open_import(demo_db)
    at.file_uploader(key="import-file").set_value(("c.csv", b"name,email\nAsha,asha@example.com\n", "text/csv"))
    at.run()
    assert not at.exception
    assert any("customer_id" in message and "missing" in message for message in texts(at.error))


def customers_table(at: AppTest):
    return next(table for table in at.dataframe if (table.key or "").startswith("customers-table-"))


def click_customer_row(at: AppTest, customer_id: str) -> AppTest:
    """AppTest cannot click a table row: the selection goes in as Streamlit stores a click."""
    table = customers_table(at)
    row = table.value["customer_id"].tolist().index(customer_id)
    at.session_state[table.key] = {"selection": {"rows": [row]}}
    return at.run()


def test_customer_search_pages_and_opens_one_customer(demo_db):
    customer = demo_db.customers.find_one({"customer_id": "CUST-000007"})
    at = open_import(demo_db)
    at.text_input(key="customers-search").input(customer["email"].upper())
    at.run()
    no_failures(at)
    assert "1 customers found · page 1 of 1 · newest first" in texts(at.caption)
    assert "Click the box at the start of a row to open the customer." in texts(at.caption)
    assert not any(box.label == "Open a customer" for box in at.selectbox)
    click_customer_row(at, "CUST-000007")
    no_failures(at)
    orders = list(demo_db.orders.find({"customer_id": "CUST-000007", "status": "completed"}))
    assert metrics(at)["Completed orders"] == format_count(len(orders))


def test_a_customers_page_says_why_they_are_in_or_out_of_a_saved_segment(demo_db):
    from crm.auth import CLI
    from crm.segment_engine.explain import explain
    from crm.segments import create_segment

    rule = {"op": "and", "rules": [{"field": "total_spend", "operator": ">", "value": 5000}]}
    create_segment(demo_db, "Big spenders", rule, by=CLI)
    at = open_import(demo_db)
    at.text_input(key="customers-search").input("CUST-000007").run()
    click_customer_row(at, "CUST-000007")
    at.selectbox(key="why-segment").select("Big spenders").run()
    no_failures(at)
    customer = demo_db.customers.find_one({"customer_id": "CUST-000007"}, {"_id": 0})
    orders = list(demo_db.orders.find({"customer_id": "CUST-000007"}, {"_id": 0}))
    expected = explain(rule, customer, orders, datetime.now(UTC).date())
    verdict = texts(at.success) if expected.selected else texts(at.info)
    assert any(("is in this segment" if expected.selected else "is not in this segment") in v for v in verdict)
    lines = next(m.value for m in at.markdown if "who spent more than" in m.value)
    assert f"theirs: **{as_text(expected.rule.steps[0].value)}**" in lines


def test_an_open_customer_closes_when_the_rows_shown_change(demo_db):
    at = open_import(demo_db)
    at.text_input(key="customers-search").input("CUST-000007").run()
    click_customer_row(at, "CUST-000007")
    assert "Completed orders" in metrics(at)
    at.text_input(key="customers-search").input("").run()  # row 0 is now someone else
    no_failures(at)
    assert "Completed orders" not in metrics(at) and not at.subheader


def test_a_customer_without_contact_details_shows_blanks_not_none(demo_db):
    from crm.ingest.records import validate_records
    from crm.ingest.writer import write_records

    write_records(demo_db, "customers", validate_records("customers", [{"customer_id": "ZZ-2"}]).valid)
    demo_db.customers.update_one({"customer_id": "ZZ-2"}, {"$set": {"city": float("nan")}})  # as by hand
    at = open_import(demo_db)
    at.text_input(key="customers-search").input("ZZ-2").run()
    no_failures(at)
    table = customers_table(at)
    row = table.value.iloc[0]
    assert row[["name", "email", "phone", "city", "gender", "signup_date", "tags"]].tolist() == [""] * 7
    assert table.proto.placeholder == ""  # a missing age, a number, is drawn blank
    click_customer_row(at, "ZZ-2")
    no_failures(at)
    assert [h.value for h in at.subheader] == ["ZZ-2"]
    assert [t.value for t in at.text] == ["ZZ-2"]


BEACON = "![x](http://127.0.0.1:9/t.png) [click](http://x.example) :red[big] $x$"


def test_a_customer_name_in_markdown_is_shown_as_its_characters(demo_db):
    from crm.ingest.records import validate_records
    from crm.ingest.writer import write_records

    write_records(demo_db, "customers", validate_records("customers", [{"customer_id": "ZZ-1", "name": BEACON}]).valid)
    at = open_import(demo_db)
    at.text_input(key="customers-search").input("ZZ-1")
    at.run()
    click_customer_row(at, "ZZ-1")
    no_failures(at)
    shown = [h.value for h in at.subheader]
    assert shown == [as_text(BEACON)]
    assert not re.search(r"(?<!\\)[\[\]:$]", shown[0])  # no link, image, colour, LaTeX or autolink left


def test_an_admin_erases_a_customer_from_their_page_after_typing_the_id(demo_db):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=RUN_SECONDS)
    sign_in(at, "admin")
    at.run()
    at.switch_page("app_pages/data.py").run()
    at.text_input(key="customers-search").input("CUST-000007").run()
    click_customer_row(at, "CUST-000007")
    no_failures(at)
    erase = next(b for b in at.button if b.label == "Erase for good")
    assert erase.disabled  # until the id is typed
    at.text_input(key="erase-confirm-CUST-000007").input("CUST-000007").run()
    next(b for b in at.button if b.label == "Erase for good").click().run()
    no_failures(at)
    assert any("Erased CUST-000007" in s.value for s in at.success)
    assert "Completed orders" not in metrics(at) and not at.subheader  # the erased customer is closed
    assert demo_db.customers.count_documents({"customer_id": "CUST-000007"}) == 0
    assert demo_db.orders.count_documents({"customer_id": "CUST-000007"}) == 0


def test_a_marketer_sees_a_customer_but_no_erase(demo_db):
    at = open_import(demo_db)
    at.text_input(key="customers-search").input("CUST-000007").run()
    click_customer_row(at, "CUST-000007")
    no_failures(at)
    assert "Completed orders" in metrics(at)
    assert not any(b.label == "Erase for good" for b in at.button)


def test_as_text_escapes_every_mark_that_makes_markup():
    assert as_text("![x](http://h/t.png)") == "!\\[x\\](http\\://h/t.png)"
    assert as_text("Asha O'Brien (VIP), ₹5,000.50") == "Asha O'Brien (VIP), ₹5,000.50"  # plain text stays


def test_search_text_is_matched_literally(demo_db):
    at = open_import(demo_db)
    at.text_input(key="customers-search").input(".*")
    at.run()
    no_failures(at)
    assert "0 customers found · page 1 of 1 · newest first" in texts(at.caption)


def test_orders_page_two_follows_page_one_newest_first(demo_db):
    at = open_import(demo_db)
    at.selectbox(key="orders-size").select(10)
    at.run()
    first = at.dataframe[-1].value
    at.number_input(key="orders-page").set_value(2)
    at.run()
    no_failures(at)
    second = at.dataframe[-1].value
    assert len(first) == len(second) == 10
    assert first["order_date"].min() >= second["order_date"].max()
    assert first["amount"].iloc[0].startswith("₹")
    n = demo_db.orders.count_documents({})  # the demo's 3,000 and those its campaign brought
    assert f"{format_count(n)} orders found · page 2 of {-(-n // 10)} · newest first" in texts(at.caption)
