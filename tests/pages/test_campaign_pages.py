"""The Campaigns and History pages under AppTest, on the test's own database."""

from __future__ import annotations

import dataclasses
import json

from streamlit.testing.v1 import AppTest

from crm.auth import CLI
from crm.campaigns import wait_until_settled
from crm.campaigns.background import is_sending
from crm.campaigns.dispatcher import dispatch
from crm.config import load_settings
from tests.apptest_support import no_exception, no_failures
from tests.auth_fixtures import sign_in
from tests.campaign_support import EVERYONE, SECRET, compose, load_customers, wait_for
from tests.support import ROOT

RUN_SECONDS = 120


def page(path: str, role: str = "marketer") -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=RUN_SECONDS)
    sign_in(at, role)
    at.run()
    at.switch_page(path)
    at.run()
    return at


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def use_rule(at: AppTest, rule: dict, template: str) -> None:
    at.radio(key="cmp_source").set_value("Rule JSON")
    at.run()
    at.text_area(key="cmp_rule").set_value(json.dumps(rule))
    at.text_area(key="cmp_template_0").set_value(template)
    at.text_input(key="cmp_name").set_value("Monsoon sale")
    at.run()


def test_pages_show_nothing_to_someone_signed_out(db):
    for path in ("app_pages/campaigns.py", "app_pages/history.py"):
        at = AppTest.from_file(str(ROOT / path), default_timeout=RUN_SECONDS)
        at.run()
        assert not at.title or at.title[0].value not in ("Campaigns", "Campaign history")
        assert not at.dataframe


def test_preview_check_and_send_from_the_campaigns_page(db, monkeypatch):
    monkeypatch.setenv("CRM_VENDOR_DELAY_MS", "100")
    load_customers(db, 12, no_sms_consent={0}, no_city={3})
    at = page("app_pages/campaigns.py")
    use_rule(at, EVERYONE, "Hi {{ first_name }} in {{ city }}")
    no_exception(at)
    preview = at.dataframe[0].value
    assert list(preview["customer"]) == ["c001", "c002", "c004", "c005"]  # the 5th, c003, has no city
    assert preview["message"].iloc[0] == "Hi Asha in Pune"
    assert [e.value for e in at.error] == ["customer c003: no value for city"]
    assert button(at, "Send campaign").disabled

    button(at, "Run the pre-send check").click()
    at.run()
    assert any("{{ city }} is empty for 1 customer(s)" in e.value for e in at.error)
    assert button(at, "Send campaign").disabled

    at.text_area(key="cmp_template_0").set_value("Hi {{ first_name }} in {{ city | default('India') }}")
    at.run()
    assert button(at, "Send campaign").disabled  # the old check does not count for a new message
    button(at, "Run the pre-send check").click()
    at.run()
    assert [m.value for m in at.metric][:2] == ["12", "11"]
    assert "11 message(s): 11 SMS will be billed." in [c.value for c in at.caption]  # in words, no dict
    assert not button(at, "Send campaign").disabled
    button(at, "Send campaign").click()
    at.run()
    no_failures(at)
    campaign = db.campaigns.find_one()
    assert campaign["name"] == "Monsoon sale" and campaign["owner"] == "test-marketer"
    stats = wait_until_settled(db, str(campaign["_id"]), stall_seconds=60)
    assert stats.audience == 11 and stats.pending == 0
    wait_for(lambda: not is_sending(str(campaign["_id"])), what="the sending thread to finish")


def test_a_viewer_may_preview_but_not_send(db):
    load_customers(db, 3)
    at = page("app_pages/campaigns.py", role="viewer")
    use_rule(at, EVERYONE, "Hi {{ name }}")
    no_failures(at)
    assert any("may preview campaigns but not send them" in i.value for i in at.info)
    button(at, "Run the pre-send check").click()
    at.run()
    assert "Send campaign" not in [b.label for b in at.button]


def test_history_lists_counters_and_filters_the_log(db, start_api):
    settings = dataclasses.replace(load_settings(), receipt_secret=SECRET, vendor_delay_ms=100, vendor_failure_rate=0.5)
    api = start_api(receipt_secret=SECRET, vendor_delay_ms=100, vendor_failure_rate=0.5, receipt_flush_ms=20)
    load_customers(db, 20)
    campaign, _ = compose(db)
    dispatch(db, campaign.id, settings, api.url)
    stats = wait_until_settled(db, campaign.id, stall_seconds=60)

    at = page("app_pages/history.py")
    no_failures(at)
    table = at.dataframe[0].value
    row = table.iloc[0]
    assert (row["campaign"], row["audience"], row["delivered"], row["failed"], row["pending"]) == (
        "spring sale",
        20,
        stats.delivered,
        stats.failed,
        0,
    )
    assert {m.label: m.value for m in at.metric}["Delivered"] == str(stats.delivered)
    log = at.dataframe[-1].value
    assert len(log) == 20
    at.multiselect(key=f"log-status-{campaign.id}").set_value(["FAILED"])
    at.run()
    failed = at.dataframe[-1].value
    assert len(failed) == stats.failed and set(failed["status"]) <= {"FAILED"}
    reasons = at.dataframe[-2].value
    assert reasons["messages"].sum() == stats.failed
    at.multiselect(key=f"log-status-{campaign.id}").set_value([])
    at.text_input(key=f"log-search-{campaign.id}").set_value("C007")
    at.run()
    assert list(at.dataframe[-1].value["customer_id"]) == ["c007"]


def test_log_csv_has_one_row_per_customer_and_honours_the_filters(db, start_api):
    from crm.campaigns.history import log_csv
    from crm.campaigns.repository import get_campaign
    from crm.campaigns.snapshot import take_snapshot

    load_customers(db, 5)
    campaign, _ = compose(db)
    take_snapshot(db, get_campaign(db, campaign.id))
    lines = log_csv(db, campaign.id, by=CLI).decode().splitlines()
    assert lines[0].startswith("customer_id,to,status,variant,message")
    assert [line.split(",")[0] for line in lines[1:]] == ["c000", "c001", "c002", "c003", "c004"]
    assert len(log_csv(db, campaign.id, ["DELIVERED"], by=CLI).decode().splitlines()) == 1
    assert len(log_csv(db, campaign.id, [], "+919800000003", by=CLI).decode().splitlines()) == 2


def test_a_pasted_rule_nested_thousands_deep_is_a_clear_error_not_a_traceback(db):
    load_customers(db, 3)
    at = page("app_pages/campaigns.py")
    deep = '{"op": "AND", "rules": [' * 5_000 + "]}" * 5_000
    at.radio(key="cmp_source").set_value("Rule JSON")
    at.run()
    at.text_area(key="cmp_rule").set_value(deep)
    at.run()
    no_exception(at)
    assert any("The rule is not valid" in e.value and "deep" in e.value for e in at.error), [e.value for e in at.error]
    at.text_area(key="cmp_rule").set_value('{"op": "AND", "rules": [')
    at.run()
    no_exception(at)
    assert any("not valid JSON" in e.value for e in at.error), [e.value for e in at.error]


def test_a_test_send_goes_to_the_contacts_given_and_counts_nowhere(db):
    from crm.campaigns.vendor_access import MOCK_VENDOR_MESSAGES

    load_customers(db, 3)
    at = page("app_pages/campaigns.py")
    use_rule(at, EVERYONE, "Hi {{ first_name }}")
    at.text_input(key="cmp_test_customer").set_value("c001")
    at.text_input(key="cmp_test_contacts").set_value("98000 11111, not a number")
    button(at, "Send the test").click()
    at.run()
    assert any("'not a number' is not a phone number for sms" in e.value for e in at.error)
    at.text_input(key="cmp_test_contacts").set_value("98000 11111")
    button(at, "Send the test").click()
    at.run()
    no_failures(at)
    assert any("1 of 1 test message(s) handed to the vendor" in s.value for s in at.success)
    sent = wait_for(lambda: list(db[MOCK_VENDOR_MESSAGES].find()), what="the vendor to record the test")
    assert [(m["to"], m["body"]) for m in sent] == [("+919800011111", "[TEST] Hi Asha")]
    assert db.campaigns.count_documents({}) == 0 and db.communication_log.count_documents({}) == 0
