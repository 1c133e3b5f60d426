"""An Indian shop's export imported in a real browser: customers with coded genders, mobiles as
people type them, day-first dates the page detects and a column of the shop's own kept as a
custom attribute with its type; orders with ₹ and lakh amounts and dates that read either way,
whose format the user must choose; then a segment on the imported genders counts the women, and
one more condition on the custom attribute narrows them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from crm.auth import CLI, users
from tests.e2e.signin_support import chromium_page, open_signed_in, settle, streamlit_app, wait_for
from tests.e2e.test_campaigns_e2e import open_page
from tests.e2e.test_segment_builder_e2e import _option, builder, rules, screenshot_on_failure, set_condition

pytestmark = pytest.mark.slow

PASSWORD = "import test password"
WAIT = 120
CUSTOMERS = (
    "Customer No,Name,Mobile,Gender,Joined,Loyalty Tier\n"
    "K1,Asha Rao,98765 43210,F,25/12/2023,Gold\n"
    "K2,Ravi Iyer,+91 91234-56789,M,03/04/2024,Gold\n"
    "K3,Meera Das,098765 11111,Mahila,,Silver\n"
)
ORDERS = 'Order No,Customer,Total,Date\nB1,K1,"₹1,250.50",03/04/2024\nB2,K2,"Rs. 1,25,000",05/06/2024 6:30 pm\n'
IST = ZoneInfo("Asia/Kolkata")


@pytest.fixture
def marketer(db):
    user, one_time = users.add_local_user(CLI, "mia", "marketer", name="Mia Marketer", db=db)
    users.change_own_password(user, PASSWORD, PASSWORD, current=one_time, db=db)
    return user


def upload(page, kind: str, name: str, text: str) -> None:
    page.get_by_test_id("stRadioGroup").get_by_text(kind.capitalize(), exact=True).click()
    settle(page)
    page.locator("[data-testid=stFileUploader] input[type=file]").set_input_files(
        {"name": name, "mimeType": "text/csv", "buffer": text.encode()}
    )
    page.get_by_text("Rows in the file").or_(page.get_by_text("Choose the date format")).first.wait_for()
    settle(page)


def choose(page, label: str, option: str) -> None:
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option).click()
    settle(page)


def import_and_wait(page, kind: str) -> None:
    page.get_by_role("button", name=f"Import {kind}").click()
    page.get_by_text(f"Imported {kind}:").wait_for()
    settle(page)


def test_an_indian_export_is_imported_and_segmented_in_the_browser(crm_env, db, marketer, tmp_path):
    with streamlit_app(crm_env, "# local accounts\n") as (url, _log), chromium_page() as page:
        with screenshot_on_failure(page, tmp_path / "failure.png"):
            open_signed_in(page, url, "mia", PASSWORD, WAIT)
            # A click just after sign-in can be lost in a rerun; open_page clicks until the exact
            # heading shows (Home's "Load demo data" would match a loose one).
            open_page(page, "Data", "Data")
            settle(page)

            # Customers: the joined dates decide (25/12 has a day above 12). (The preview of the
            # stored forms is a canvas grid here; the page tests read its cells.)
            upload(page, "customers", "customers.csv", CUSTOMERS)
            page.get_by_text("column 'Joined' is day first").wait_for()
            choose(page, "Loyalty Tier", "Keep as a custom attribute")
            choose(page, "Type of Loyalty Tier", "text")
            page.get_by_text("Every row is valid.").wait_for()
            import_and_wait(page, "customers")

            # Orders: 03/04 and 05/06 read either way; nothing is checked until the user chooses.
            upload(page, "orders", "orders.csv", ORDERS)
            page.get_by_text("Choose the date format").wait_for()
            assert not page.get_by_role("button", name="Import orders").count()
            choose(page, "Dates in this file", "Day first (15/03/2024)")
            page.get_by_text("Every row is valid.").wait_for()
            import_and_wait(page, "orders")

            stored = {c["customer_id"]: c for c in db.customers.find()}
            assert {k: (c["gender"], c["phone"]) for k, c in stored.items()} == {
                "K1": ("female", "+919876543210"),
                "K2": ("male", "+919123456789"),
                "K3": ("female", "+919876511111"),
            }
            assert stored["K1"]["signup_date"] == datetime(2023, 12, 25, tzinfo=UTC)  # a date alone: that day
            assert [stored[k]["attributes"] for k in ("K1", "K3")] == [
                {"loyalty_tier": "Gold"},
                {"loyalty_tier": "Silver"},
            ]
            orders = {o["order_id"]: o for o in db.orders.find()}
            assert (orders["B1"]["amount"], orders["B2"]["amount"]) == (125_050, 1_25_000_00)
            assert orders["B1"]["order_date"] == datetime(2024, 4, 3, tzinfo=UTC)
            assert orders["B2"]["order_date"] == datetime(2024, 6, 5, 18, 30, tzinfo=IST).astimezone(UTC)

            # A segment on the imported genders: "F" and "Mahila" are both women.
            page.get_by_role("link", name="Segments").click()
            builder(page).locator(".query-builder").wait_for()
            settle(page)
            builder(page).locator(".group--header .action--ADD-RULE").first.click()
            condition = rules(page).nth(0)
            set_condition(page, condition, "Gender", "is")
            condition.locator(".rule--value .ant-select").click()  # a short list: no search box
            values = (
                builder(page)
                .locator(".ant-select-dropdown:visible")
                .filter(has=builder(page).locator("[title=female]"))
            )
            wait_for(lambda: values.count() == 1, WAIT, "the gender choices")
            titles = [o.get_attribute("title") for o in values.locator(".ant-select-item-option").all()]
            assert sorted(titles) == ["female", "male"]  # one word per gender: no "F", no "Mahila"
            _option(page, "female").click()
            metric = page.get_by_test_id("stMetric").filter(has_text="Customers in this segment")
            wait_for(
                lambda: metric.count() and metric.get_by_test_id("stMetricValue").inner_text() == "2",
                WAIT,
                "the count of women",
            )

            # And the shop's own column, a field like the others: women of the Gold tier.
            builder(page).locator(".group--header .action--ADD-RULE").first.click()
            tier = rules(page).nth(1)
            set_condition(page, tier, "Loyalty Tier", "is")
            tier.locator(".rule--value .ant-select").click()
            _option(page, "Gold").click()
            wait_for(
                lambda: metric.get_by_test_id("stMetricValue").inner_text() == "1",
                WAIT,
                "the count of Gold women",
            )
            page.get_by_text("whose loyalty tier is “Gold”").first.wait_for()
