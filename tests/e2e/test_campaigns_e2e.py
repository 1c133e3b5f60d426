"""Campaigns and History in headless Chromium, as people use them.

A marketer picks a saved segment, names the campaign, picks a channel, writes a message with a
placeholder the app does not know, sees the preview and the pre-send check report it (nothing is
sent), fixes it, passes the check and sends. On History the campaign is listed first, its
counters settle to what `python -m crm campaign stats` prints, the funnel and timeline charts
draw, the log filters by status and its CSV holds one row per recipient. A viewer sees History
but gets no send button and no CSV of the log; the Campaigns page stops refreshing once a send has settled.
A campaign sent with a 10% holdout shows its results on History, and they follow the orders the
shop's backend posts to the REST API afterwards, a refund included.

One app (Streamlit on a free port, the mock vendor inside it) serves the whole module, on a small
demo dataset in a database of its own. Set CRM_SCREENSHOT_DIR to save the History view there
(how docs/screenshots/history.png is made).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import httpx
import pytest

from crm import store
from crm.auth import CLI, users
from crm.auth.api_keys import create_key
from crm.demo.campaign import NAME as DEMO_CAMPAIGN
from crm.formats.indian_numbers import format_inr_short
from crm.segments import create_segment
from tests.campaign_support import order
from tests.e2e.signin_support import (
    chromium_page,
    downloaded_csv,
    settle,
    streamlit_app,
    submit_sign_in,
    wait_for,
)
from tests.support import ROOT, free_port

pytestmark = pytest.mark.slow

WAIT = 120  # seconds for anything the app computes or the vendor delivers
PASSWORD = "campaign test password"
SEGMENT = "Mumbai and Pune"
CITIES = {"op": "and", "rules": [{"field": "city", "operator": "in", "value": ["Mumbai", "Pune"]}]}
LAPSED = {"op": "and", "rules": [{"field": "days_since_last_order", "operator": ">", "value": 90}]}
BUYERS = {"op": "and", "rules": [{"field": "order_count", "operator": ">=", "value": 1}]}
NAME = "Diwali in Mumbai and Pune"
BROKEN = "Hi {{ first_name }}, your code is {{ coupon_code }}"
FIXED = 'Hi {{ first_name | default("there") }}, Diwali offers in {{ city }} this week!'


@pytest.fixture(scope="module")
def app(mongo_server, tmp_path_factory):
    """Demo data, a marketer and a viewer, two saved segments, one campaign sent earlier from the
    CLI, and the app serving them; yields what the tests need."""
    server, _ = mongo_server
    public_port = free_port()  # where the REST API runs when a test needs it: unsubscribe links point there
    env = {
        "CRM_PUBLIC_URL": f"http://127.0.0.1:{public_port}",
        "CRM_DATA_DIR": str(server.data_dir),
        "CRM_DB_NAME": f"e2e_cmp_{uuid.uuid4().hex[:10]}",
        # a quick vendor that fails some messages, so the log has every status to filter on
        "CRM_VENDOR_DELAY_MS": "150",
        "CRM_VENDOR_FAILURE_RATE": "0.3",
    }
    with pytest.MonkeyPatch.context() as mp:
        for key in ("MONGODB_URI", "REDIS_URL", "GEMINI_API_KEY", "GOOGLE_API_KEY", "CRM_VENDOR_URL"):
            mp.delenv(key, raising=False)
        for key, value in env.items():
            mp.setenv(key, value)
        store.reset()

        def run_cli(*args: str) -> str:
            done = subprocess.run(
                [sys.executable, "-m", "crm", *args],
                cwd=ROOT,
                env=dict(os.environ),
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert done.returncode == 0, f"crm {' '.join(args)} failed:\n{done.stderr}"
            return done.stdout

        try:
            run_cli("demo", "--customers", "300", "--orders", "2000")
            db = store.get_db()
            for username, role in (("mia", "marketer"), ("vic", "viewer")):
                user, one_time = users.add_local_user(CLI, username, role, db=db)
                users.change_own_password(user, PASSWORD, PASSWORD, current=one_time, db=db)
            create_segment(db, "Lapsed for 90 days", LAPSED, by=CLI)
            create_segment(db, SEGMENT, CITIES, by=CLI)
            rule_file = tmp_path_factory.mktemp("campaign-rule") / "rule.json"
            rule_file.write_text(json.dumps(CITIES))
            earlier = json.loads(
                run_cli(
                    "campaign",
                    "send",
                    str(rule_file),
                    "--name",
                    "Earlier from the CLI",
                    "--message",
                    "Hello {{ first_name | default('there') }}",
                    "--wait",
                )
                .strip()
                .splitlines()[-1]
            )
            with streamlit_app(env, "# local accounts\n") as (url, _log):
                yield SimpleNamespace(url=url, db=db, run_cli=run_cli, earlier=earlier, public_port=public_port)
        finally:
            store.reset()


@contextmanager
def signed_in(app, username: str, tmp_path: Path):
    """A browser signed in as `username`; a screenshot of the page if anything fails."""
    with chromium_page() as page:
        try:
            page.set_viewport_size({"width": 1440, "height": 1100})
            page.set_default_timeout(WAIT * 1000)
            page.goto(app.url)
            submit_sign_in(page, username, PASSWORD)
            page.locator("[data-testid=stSidebar]").get_by_text("Signed in as").wait_for()
            yield page
        except BaseException:
            shot = tmp_path / "failure.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot of the failure: {shot}")
            raise


def open_page(page, name: str, heading: str) -> None:
    """Follow a sidebar link; a click that lands while the app reruns (just after sign-in) is
    lost, so it is clicked again until the page's heading shows."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    target = page.get_by_role("heading", name=heading, exact=True)
    deadline = time.monotonic() + WAIT
    while True:
        settle(page)
        page.get_by_role("link", name=name, exact=True).click()
        try:
            target.wait_for(timeout=10_000)
            break
        except PlaywrightTimeout:
            if time.monotonic() > deadline:
                raise
    settle(page)


def grid_rows(grid) -> list[dict[str, str]]:
    """The rows an st.dataframe shows, read from the grid's accessible table (the cells drawn on
    screen: enough for the short tables here)."""
    table = grid.locator("table[role=grid]")
    table.wait_for(state="attached")
    header = table.locator("th[role=columnheader]").all_inner_texts()
    return [dict(zip(header, row.locator("td").all_inner_texts())) for row in table.locator("tbody tr[role=row]").all()]


def grid_row_count(grid) -> int:
    """All the rows the grid holds, drawn or not (aria-rowcount counts the header too)."""
    return int(grid.locator("table[role=grid]").get_attribute("aria-rowcount")) - 1


def click_row_box(grid, row: int) -> None:
    """Tick the box at the start of a row of an st.dataframe that selects rows. The grid is drawn
    on a canvas, so the click goes where the box is: below the 36px header, in rows 35px high."""
    grid.click(position={"x": 16, "y": 36 + 35 * row + 17})


def choose_option(page, select, name: str) -> None:
    """Open a select and click one of its options; open it again if a rerun closed it first."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    option = page.get_by_role("option", name=name, exact=True)

    def shown() -> bool:
        if option.is_visible():
            return True
        settle(page)
        select.click()
        try:
            option.wait_for(timeout=5_000)
            return True
        except PlaywrightTimeout:
            return False  # the list closed before it showed: open it again

    wait_for(shown, WAIT, f"the option {name!r}", every=0.2)
    option.click()


def metric(page, label: str) -> str:
    box = page.get_by_test_id("stMetric").filter(has=page.get_by_text(label, exact=True))
    return box.get_by_test_id("stMetricValue").inner_text()


def check_and_send(page) -> None:
    """Run the pre-send check, send once it passed, and wait until every receipt is in."""
    settle(page)
    page.get_by_role("button", name="Run the pre-send check").click()
    page.get_by_text("The check passed: every message renders.").wait_for()
    settle(page)
    page.get_by_role("button", name="Send campaign").click()
    page.get_by_text("Every message has its receipt.").wait_for()


def write_message(page, text: str) -> None:
    box = page.get_by_label("Message", exact=True)
    box.fill(text)
    box.press("Control+Enter")  # a text area sends its value on Ctrl+Enter (or when it loses focus)
    settle(page)


def expected_message(customer: dict) -> str:
    first = (customer.get("name") or "").split()
    return f"Hi {first[0] if first else 'there'}, Diwali offers in {customer['city']} this week!"


def test_compose_check_fix_send_and_follow_on_history(app, tmp_path):
    db = app.db
    in_cities = {"city": {"$in": ["Mumbai", "Pune"]}}
    matched = db.customers.count_documents(in_cities)
    # who may get an email: consent given (never assumed) and an address to write to
    reachable = db.customers.count_documents(
        {**in_cities, "consent.email.status": "yes", "email": {"$nin": [None, ""]}}
    )
    assert 0 < reachable < matched  # the demo has refused and unknown consent: exclusions are exercised
    campaigns_before = db.campaigns.count_documents({})

    with signed_in(app, "mia", tmp_path) as page:
        from playwright.sync_api import expect

        # --- compose ---------------------------------------------------------------------
        open_page(page, "Campaigns", "Campaigns")
        choose_option(page, page.get_by_role("combobox", name="Segment", exact=True), SEGMENT)
        page.get_by_text("Customers whose city is").first.wait_for()
        settle(page)
        page.get_by_label("Campaign name").fill(NAME)
        page.get_by_label("Campaign name").press("Enter")
        settle(page)
        choose_option(page, page.get_by_role("combobox", name="Channel"), "Email")
        settle(page)

        # --- an unknown placeholder: the preview and the check name it; nothing can be sent -
        write_message(page, BROKEN)
        unknown = page.get_by_text("unknown placeholder {{ coupon_code }}")
        unknown.first.wait_for()
        page.get_by_role("button", name="Run the pre-send check").click()
        wait_for(lambda: unknown.count() >= 2, WAIT, "the check's report of the unknown placeholder")
        expect(page.get_by_text("The check passed")).to_have_count(0)
        expect(page.get_by_role("button", name="Send campaign")).to_be_disabled()
        assert db.campaigns.count_documents({}) == campaigns_before

        # --- fixed: the preview renders for real customers of the segment ------------------
        write_message(page, FIXED)
        expect(unknown).to_have_count(0)
        preview = page.get_by_test_id("stDataFrame").first
        wait_for(
            lambda: [r for r in grid_rows(preview) if "Diwali offers" in r.get("message", "")],
            WAIT,
            "the preview of the fixed message",
        )
        assert len(grid_rows(preview)) == 5
        for row in grid_rows(preview):
            customer = db.customers.find_one({"customer_id": row["customer"]})
            assert customer["city"] in ("Mumbai", "Pune") and customer["consent"]["email"]["status"] == "yes"
            assert row["to"] == customer["email"]
            assert row["message"] == expected_message(customer)
        # the failed check was for the old message: sending waits for a new one
        expect(page.get_by_role("button", name="Send campaign")).to_be_disabled()

        page.get_by_role("button", name="Run the pre-send check").click()
        page.get_by_text("The check passed: every message renders.").wait_for()
        assert metric(page, "Matched") == f"{matched:,}"
        assert metric(page, "Will be messaged") == f"{reachable:,}"
        settle(page)
        send = page.get_by_role("button", name="Send campaign")
        expect(send).to_be_enabled()
        send.click()

        # --- delivery, followed from the Campaigns page to History --------------------------
        page.get_by_role("heading", name="Sending").wait_for()
        page.get_by_text("Handed to the vendor:").first.wait_for()
        assert db.campaigns.count_documents({}) == campaigns_before + 1
        sent = db.campaigns.find_one({"name": NAME})
        assert sent["channel"] == "email" and sent["owner"] == "mia"
        campaign_id = str(sent["_id"])
        page.get_by_role("link", name="Open History", exact=True).click()
        page.get_by_role("heading", name="Campaign history", exact=True).wait_for()
        page.get_by_role("heading", name=NAME).wait_for()  # the newest campaign is the one shown

        def settled_on_page() -> bool:  # History refreshes itself while messages are pending
            counts = {
                label: int(metric(page, label).replace(",", ""))
                for label in ("Audience", "Delivered", "Failed", "Pending")
            }
            return counts["Pending"] == 0 and counts["Delivered"] + counts["Failed"] == reachable

        wait_for(settled_on_page, WAIT, "History's counters to settle", every=0.5)
        # Settled, the page stops refreshing itself (every 2 s while live): quiet for longer than that.
        settle(page, quiet_seconds=3, timeout=30)
        stats = json.loads(app.run_cli("campaign", "stats", campaign_id).strip().splitlines()[-1])
        assert stats["audience"] == reachable and stats["pending"] == 0
        assert stats["delivered"] + stats["failed"] == stats["audience"] and stats["sent"] == stats["audience"]

        overview = page.get_by_test_id("stDataFrame").first
        columns = ("audience", "sent", "delivered", "failed", "pending")
        wait_for(
            lambda: [r["pending"] for r in grid_rows(overview)] == ["0"] * (campaigns_before + 1),
            WAIT,
            "both campaigns listed, settled",
        )
        rows = grid_rows(overview)
        # most recent first; last, the demo's past campaign
        assert [r["campaign"] for r in rows] == [NAME, "Earlier from the CLI", DEMO_CAMPAIGN]
        assert {k: int(rows[0][k]) for k in columns} == {k: stats[k] for k in columns}
        assert {k: int(rows[1][k]) for k in columns} == {k: app.earlier[k] for k in columns}
        assert rows[0]["channel"] == "Email" and rows[0]["owner"] == "mia"

        for label in ("Audience", "Sent", "Delivered", "Failed", "Pending"):
            assert metric(page, label) == f"{stats[label.lower()]:,}", label
        assert metric(page, "Delivery rate") == f"{100 * stats['delivered'] / stats['audience']:.1f}%"
        refused = db.customers.count_documents({**in_cities, "consent.email.status": "no"})
        unknown = db.customers.count_documents({**in_cities, "consent.email.status": "unknown"})
        no_address = matched - reachable - refused - unknown
        assert refused and unknown
        page.get_by_text(
            "Not messaged: "
            + ", ".join(
                [f"{refused:,} refused consent for the channel", f"{unknown:,} consent for the channel unknown"]
                + ([f"{no_address:,} no contact address for the channel"] if no_address else [])
            )
            + "."
        ).wait_for()
        charts = page.locator(".js-plotly-plot")
        expect(charts).to_have_count(3)  # the results' conversion by day, the funnel and the timeline
        expect(charts.nth(1)).to_be_visible()
        lines = charts.nth(2).locator(".scatterlayer path.js-line")
        expect(lines).to_have_count(3)  # sent, delivered, failed
        for line in lines.all():  # each one drawn: a path that goes somewhere, not a lone point
            assert any(step in (line.get_attribute("d") or "") for step in "HVL"), line.get_attribute("d")

        # the whole log as CSV: one row per recipient, statuses as counted
        exported = downloaded_csv(page, "Download the log (CSV)", tmp_path / "log.csv", WAIT)
        logged = {r["customer_id"]: r for r in db.communication_log.find({"campaign_id": campaign_id})}
        assert len(exported) == stats["audience"] and {r["customer_id"] for r in exported} == set(logged)
        for row in exported:
            assert row["status"] == logged[row["customer_id"]]["status"]
            assert row["to"] == logged[row["customer_id"]]["to"]
        assert sum(r["status"] == "FAILED" for r in exported) == stats["failed"]

        if os.environ.get("CRM_SCREENSHOT_DIR"):
            target = Path(os.environ["CRM_SCREENSHOT_DIR"])
            target.mkdir(parents=True, exist_ok=True)
            page.set_viewport_size({"width": 1440, "height": 2000})  # Streamlit scrolls inside
            page.get_by_role("heading", name="Campaign history").scroll_into_view_if_needed()
            page.mouse.move(1, 1)  # no hover toolbar over a chart in the picture
            settle(page)
            page.screenshot(path=str(target / "history.png"))
            page.set_viewport_size({"width": 1440, "height": 1100})

        # the log filtered by status
        log = page.get_by_test_id("stDataFrame").last
        page.get_by_text(f"{stats['audience']:,} message(s)", exact=True).wait_for()
        choose_option(page, page.get_by_role("combobox", name="Status"), "FAILED")
        page.keyboard.press("Escape")
        page.get_by_text(f"{stats['failed']:,} message(s)", exact=True).wait_for()
        wait_for(lambda: grid_row_count(log) == stats["failed"], WAIT, "the log filtered to FAILED")
        assert {r["status"] for r in grid_rows(log)} == {"FAILED"}


def test_a_viewer_sees_history_but_cannot_send(app, tmp_path):
    with signed_in(app, "vic", tmp_path) as page:
        from playwright.sync_api import expect

        open_page(page, "Campaigns", "Campaigns")
        page.get_by_text("Your role (viewer) may preview campaigns but not send them.").wait_for()
        page.get_by_role("button", name="Run the pre-send check").click()
        page.get_by_text("The check passed: every message renders.").wait_for()
        expect(page.get_by_role("button", name="Send campaign")).to_have_count(0)

        open_page(page, "History", "Campaign history")
        overview = page.get_by_test_id("stDataFrame").first
        wait_for(
            lambda: "Earlier from the CLI" in [r["campaign"] for r in grid_rows(overview)], WAIT, "the campaigns listed"
        )
        page.get_by_text("Communication log").first.wait_for()
        expect(page.get_by_role("button", name="Download the log (CSV)")).to_have_count(0)  # exports: marketers
        expect(page.get_by_role("button", name="Resume sending")).to_have_count(0)


def test_a_viewer_gets_no_import_no_export_and_no_erase(app, tmp_path):
    with signed_in(app, "vic", tmp_path) as page:
        from playwright.sync_api import expect

        open_page(page, "Data", "Data")
        page.get_by_text("Imports are for admins and marketers; you are signed in as a viewer.").wait_for()
        expect(page.get_by_test_id("stFileUploader")).to_have_count(0)
        page.get_by_role("tab", name="Customers").click()
        search = page.get_by_label("Search").first
        search.fill("CUST-000001")
        search.press("Enter")
        customers = page.locator("[class*=st-key-customers-table-]").get_by_test_id("stDataFrame")
        wait_for(lambda: [r["customer_id"] for r in grid_rows(customers)] == ["CUST-000001"], WAIT, "the search")
        settle(page)
        click_row_box(customers, 0)
        page.get_by_role("heading", name="CUST-000001").or_(page.get_by_text("Completed orders")).first.wait_for()
        expect(page.get_by_text("Erase this customer")).to_have_count(0)

        open_page(page, "Segments", "Segments")
        page.get_by_text("can open segments but not change them or export their customers").wait_for()
        page.get_by_role("button", name="Open in the builder").click()
        page.get_by_role("tab", name="Export").click()
        page.get_by_text("Exporting customers' data is for admins and marketers").wait_for()
        expect(page.get_by_role("button", name="Download CSV")).to_have_count(0)
    assert app.db.customers.count_documents({"customer_id": "CUST-000001"}) == 1


def test_the_campaigns_page_follows_a_send_to_the_end_then_stops_refreshing(app, tmp_path):
    with signed_in(app, "mia", tmp_path) as page:
        # as the page opens: the first saved segment, SMS and the example message
        open_page(page, "Campaigns", "Campaigns")
        page.get_by_label("Campaign name").fill("Win back lapsed buyers")
        page.get_by_label("Campaign name").press("Enter")
        check_and_send(page)
        settle(page, quiet_seconds=2.5, timeout=30)  # it refreshed every second while sending

        campaign_id = str(app.db.campaigns.find_one({"name": "Win back lapsed buyers"})["_id"])
        stats = json.loads(app.run_cli("campaign", "stats", campaign_id).strip().splitlines()[-1])
        assert stats["pending"] == 0 and stats["audience"] > 0
        page.get_by_text(f"Handed to the vendor: {stats['sent']:,} of {stats['audience']:,}").wait_for()
        page.get_by_text(
            f"Receipts: {stats['delivered']:,} delivered, {stats['failed']:,} failed, 0 pending"
        ).wait_for()


@contextmanager
def rest_api(env_key: str, port: int | None = None):
    """`python -m crm api` on a free port (or `port`) of the module's database, and a key for it."""
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "crm", "api", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def answers() -> bool:
            assert process.poll() is None, "the API process exited"
            try:
                return httpx.get(url + "/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(answers, WAIT, "the API process")
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {env_key}"}, timeout=60) as client:
            yield client
    finally:
        process.terminate()
        process.wait(30)


def test_a_campaign_with_a_holdout_shows_what_later_orders_earned(app, tmp_path):
    db = app.db
    create_segment(db, "Everyone who ordered", BUYERS, by=CLI)
    name = "Weekend offer with a holdout"
    with signed_in(app, "mia", tmp_path) as page:
        open_page(page, "Campaigns", "Campaigns")
        choose_option(page, page.get_by_role("combobox", name="Segment", exact=True), "Everyone who ordered")
        settle(page)
        page.get_by_label("Campaign name").fill(name)
        page.get_by_label("Campaign name").press("Enter")
        holdout = page.get_by_role("spinbutton", name="Holdout (% of recipients not messaged)")
        holdout.fill("10")
        holdout.press("Enter")
        check_and_send(page)

        campaign = db.campaigns.find_one({"name": name})
        assert campaign["holdout_percent"] == 10 and campaign["window_days"] == 7
        log = list(db.communication_log.find({"campaign_id": str(campaign["_id"])}).sort("customer_id"))
        held = [r["customer_id"] for r in log if r["status"] == "HOLDOUT"]
        group = len(log) - len(held)  # the messaged group: delivered or not (intention to treat)
        messaged = [r["customer_id"] for r in log if r["status"] == "DELIVERED"]
        assert 0.04 < len(held) / len(log) < 0.18 and len(messaged) >= 3  # about 10% of ~180 recipients
        assert all(r["message"] is None and r["sent_at"] is None for r in log if r["status"] == "HOLDOUT")

        open_page(page, "History", "Campaign history")
        page.get_by_role("heading", name=name).wait_for()  # the newest campaign is the one shown
        assert metric(page, "Messaged") == "0.0%" and metric(page, "Holdout") == "0.0%"

        # The shop's backend posts the orders that followed: two messaged customers buy (one of
        # them twice), a third cancels, and one held-out customer buys on their own.
        now = datetime.now(UTC)  # after every message: the send has settled
        orders = [
            order("E2E-1", messaged[0], 1_500, now),
            order("E2E-2", messaged[0], 500, now),
            order("E2E-3", messaged[1], 2_000, now),
            order("E2E-4", messaged[2], 999, now, status="cancelled"),
            order("E2E-5", held[0], 700, now),
        ]
        key = create_key(db, "shop backend")[1]
        with rest_api(key) as shop:
            assert shop.post("/api/v1/orders", json=orders).json() == {"inserted": 5, "updated": 0, "unchanged": 0}

            def shows(m_rate: str, h_rate: str, revenue: str) -> bool:
                page.reload()  # a user comes back to the page: results are computed as it opens
                page.get_by_role("heading", name=name).wait_for()
                got = (metric(page, "Messaged"), metric(page, "Holdout"))  # converted within the window
                return got == (m_rate, h_rate) and metric(page, "Revenue") == revenue

            def rate(converters: int, of: int) -> str:
                return f"{100 * converters / of:.1f}%"

            wait_for(
                lambda: shows(rate(2, group), rate(1, len(held)), format_inr_short(4_000_00)),
                WAIT,
                "the results to count the new orders",
                every=1,
            )
            results = json.loads(app.run_cli("campaign", "results", str(campaign["_id"])))
            assert (results["messaged"]["converters"], results["messaged"]["revenue"]) == (2, 4000.0)
            assert (results["holdout"]["converters"], results["holdout"]["revenue"]) == (1, 700.0)

            # A refund later: the ₹2,000 order stops counting.
            refunded = shop.post("/api/v1/orders", json=order("E2E-3", messaged[1], 2_000, now, status="refunded"))
            assert refunded.json() == {"inserted": 0, "updated": 1, "unchanged": 0}
            wait_for(
                lambda: shows(rate(1, group), rate(1, len(held)), format_inr_short(2_000_00)),
                WAIT,
                "the results to drop the refunded order",
                every=1,
            )


def test_a_customer_unsubscribes_through_the_link_of_a_delivered_email(app, tmp_path):
    db = app.db
    demo = db.campaigns.find_one({"name": DEMO_CAMPAIGN})
    row = db.communication_log.find_one({"campaign_id": str(demo["_id"]), "status": "DELIVERED"})
    customer_id, url = row["customer_id"], row["unsubscribe_url"]
    assert url.startswith(f"http://127.0.0.1:{app.public_port}/u/") and url not in row["message"]
    assert db.customers.find_one({"customer_id": customer_id})["consent"]["email"]["status"] == "yes"
    with rest_api(create_key(db, "unsubscribe test")[1], port=app.public_port), chromium_page() as page:
        page.goto(url)  # what the customer's mail app opens
        page.get_by_role("heading", name="Unsubscribe from emails").wait_for()
        page.get_by_role("button", name="Unsubscribe").click()
        page.get_by_role("heading", name="You are unsubscribed").wait_for()
    assert db.customers.find_one({"customer_id": customer_id})["consent"]["email"]["status"] == "no"

    with signed_in(app, "mia", tmp_path) as page:
        open_page(page, "Data", "Data")
        page.get_by_role("tab", name="Customers").click()
        search = page.get_by_label("Search").first
        search.fill(customer_id)
        search.press("Enter")
        customers = page.locator("[class*=st-key-customers-table-]").get_by_test_id("stDataFrame")
        wait_for(lambda: [r["customer_id"] for r in grid_rows(customers)] == [customer_id], WAIT, "the search")
        settle(page)
        click_row_box(customers, 0)
        consent = page.get_by_test_id("stDataFrame").filter(has=page.get_by_text("opted out", exact=True))
        wait_for(
            lambda: (
                {r["channel"]: (r["consent"], r["opted out"]) for r in grid_rows(consent)}.get("email")
                == ("no", "yes, by the customer")
            ),
            WAIT,
            "the customer's email consent to show the opt-out",
        )


def test_a_campaign_scheduled_from_the_page_is_listed_then_cancelled(app, tmp_path):
    """Scheduled at the time the page offers (the next full hour in Asia/Kolkata), listed with it,
    then cancelled with its button; the campaign is removed afterwards, so History's list stays
    as the tests above left it."""
    name = "Christmas preview"
    try:
        with signed_in(app, "mia", tmp_path) as page:
            from playwright.sync_api import expect

            open_page(page, "Campaigns", "Campaigns")
            page.get_by_label("Campaign name").fill(name)
            page.get_by_label("Campaign name").press("Enter")
            settle(page)
            page.get_by_role("button", name="Run the pre-send check").click()
            page.get_by_text("The check passed: every message renders.").wait_for()
            settle(page)
            page.get_by_text("Schedule instead of sending now").click()
            expect(page.get_by_role("group", name="Send on (Asia/Kolkata)")).to_be_visible()
            settle(page)
            schedule = page.get_by_role("button", name="Schedule", exact=True)
            expect(schedule).to_be_enabled()
            schedule.click()
            errors = page.get_by_test_id("stAlertContentError")
            stored = wait_for(
                lambda: app.db.campaigns.find_one({"name": name}) or (errors.count() and errors.all_inner_texts()),
                WAIT,
                "the campaign to be scheduled",
                every=0.2,
            )
            assert isinstance(stored, dict), stored  # not an error shown instead
            page.get_by_text("Scheduled for ").first.wait_for()
            assert stored["status"] == "scheduled" and stored["owner"] == "mia"
            shown = stored["scheduled_at"].astimezone(ZoneInfo("Asia/Kolkata")).strftime("%Y-%m-%d %H:%M")
            page.get_by_role("heading", name="Scheduled", exact=True).wait_for()
            page.get_by_text(f"{shown} Asia/Kolkata", exact=True).wait_for()
            assert app.db.communication_log.count_documents({"campaign_id": str(stored["_id"])}) == 0
            settle(page)
            page.get_by_role("button", name="Cancel").click()
            expect(page.get_by_role("heading", name="Scheduled", exact=True)).to_have_count(0)
            assert app.db.campaigns.find_one({"_id": stored["_id"]})["status"] == "cancelled"
    finally:
        app.db.campaigns.delete_many({"name": name})
