"""The pre-send check and composing: consent and contact exclusions, empty values, permissions."""

from __future__ import annotations

import time

import pytest

from crm.analytics import analytic_copy
from crm.auth import SystemPrincipal
from crm.campaigns import CampaignDraft, check_draft, preview_messages
from crm.campaigns.model import FAILED, PENDING
from crm.campaigns.repository import get_campaign, object_id
from crm.campaigns.snapshot import take_snapshot
from crm.errors import Forbidden, InvalidInput
from crm.ingest.records import validate_records
from crm.ingest.writer import write_records
from tests.campaign_support import EVERYONE, compose, load_customers, log_rows


def draft(templates, channel="sms", rules=EVERYONE):
    return CampaignDraft.build(name="check", channel=channel, templates=templates, rules=rules)


def test_customers_without_consent_or_phone_are_excluded_and_counted_for_sms(db):
    load_customers(db, 12, no_sms_consent={1, 2, 3}, no_phone={3, 4})
    report = check_draft(draft(["Hi {{ first_name }}"]))
    assert report.ok, report.problems
    assert report.matched == 12
    assert report.excluded == {"no_consent": 3, "consent_unknown": 0, "no_contact": 1}  # c003 lacks both: once
    assert report.recipients == 8
    assert {s.customer_id for s in report.samples}.isdisjoint({"c001", "c002", "c003", "c004"})


def test_email_channel_needs_email_consent_not_sms_consent(db):
    load_customers(db, 6, no_sms_consent={0, 1}, no_phone={2})
    report = check_draft(draft(["Hello {{ name }}"], channel="email"))
    assert report.excluded == {"no_consent": 0, "consent_unknown": 0, "no_contact": 0}
    assert report.recipients == 6
    assert report.samples[0].to == "asha0@example.com"


def test_empty_values_are_reported_with_a_default_suggestion(db):
    load_customers(db, 10, no_city={2, 5, 7})
    report = check_draft(draft(["{{ first_name }}, offers in {{ city }}"]))
    assert not report.ok
    [problem] = report.problems
    assert problem.customers == 3 and problem.location == "template 1"
    assert "{{ city }} is empty for 3 customer(s) (e.g. c002)" in problem.message
    assert '{{ city | default("...") }}' in problem.message
    fixed = check_draft(draft(["{{ first_name }}, offers in {{ city | default('your city') }}"]))
    assert fixed.ok and fixed.recipients == 10


def test_every_template_is_checked_and_named(db):
    load_customers(db, 4)
    report = check_draft(draft(["Hi {{ name }}", "Hi {{ nmae }}", "{% if %}"]))
    assert [p.location for p in report.problems] == ["template 2", "template 3 line 1"]


def test_sms_length_is_measured_on_every_rendered_message(db):
    load_customers(db, 5)
    report = check_draft(draft(["₹ " + "x" * 80 + " {{ name }}"]))
    assert report.encodings == {"UCS-2": 5}
    assert report.segments == {2: 5}
    assert report.sms_sentences == [
        "5 message(s): 10 SMS will be billed.",
        "5 of 5 messages need 2 SMS each because ₹ is not in the GSM alphabet (a message with one goes as "
        "Unicode, 70 characters an SMS); write Rs for ₹ to keep them to one.",
    ]
    assert "10 SMS will be billed" in report.summary()


def test_nobody_to_send_to_is_a_problem(db):
    load_customers(db, 3, no_sms_consent={0, 1, 2})
    report = check_draft(draft(["Hi"]))
    assert [p.location for p in report.problems] == ["audience"]
    assert "none of the 3 matched customers can be messaged on SMS" in report.problems[0].message


def test_preview_renders_for_real_audience_members(db):
    load_customers(db, 8, no_phone={0})
    samples = preview_messages(draft(["Hi {{ first_name }} ({{ city }})"]), n=5)
    assert [s.customer_id for s in samples] == ["c001", "c002", "c003", "c004", "c005"]
    assert samples[0].message == "Hi Asha (Pune)"


def test_compose_refuses_a_viewer_and_a_failing_check_creates_nothing(db):
    load_customers(db, 3, no_city={1})
    with pytest.raises(Forbidden):
        compose(db, user=SystemPrincipal("val", "viewer"))
    with pytest.raises(InvalidInput, match="city"):
        compose(db, templates=["{{ city }}"])
    assert db.campaigns.count_documents({}) == 0


def test_compose_stores_the_campaign_and_audits_it(db):
    load_customers(db, 5, no_sms_consent={4})
    campaign, report = compose(db, user=SystemPrincipal("mia", "marketer"))
    assert campaign.status == "draft" and campaign.owner == "mia"
    assert campaign.matched == 5 and campaign.excluded["no_consent"] == 1
    entry = db.audit_log.find_one({"action": "campaign.create"})
    assert entry["username"] == "mia" and entry["target"] == campaign.id


@pytest.mark.parametrize(
    "fields, location",
    [
        ({"name": " "}, "name"),
        ({"templates": []}, "templates"),
        ({"channel": "fax"}, "channel"),
        ({"rules": {"op": "and", "rules": []}}, "rules"),
    ],
)
def test_bad_drafts_name_the_field(fields, location):
    base = {"name": "x", "templates": ["Hi"], "rules": EVERYONE, **fields}
    with pytest.raises(InvalidInput) as err:
        CampaignDraft.build(**base)
    assert err.value.location.startswith(location)


@pytest.mark.parametrize(
    "template, reason",
    [
        ("{{ 'x' * 200000000 }}", "longer than 5,000"),
        (
            "{% for a in 'x' * 3000 %}{% for b in 'x' * 3000 %}{% for c in 'x' * 3000 %}{% endfor %}{% endfor %}"
            "{% endfor %}",
            "loops take more than 10,000 steps",
        ),
        ("{% macro again() %}{{ again() }}{% endmacro %}{{ again() }}", "a macro that calls itself"),
    ],
)
def test_a_template_bomb_fails_the_check_and_creates_no_campaign(db, template, reason):
    load_customers(db, 3)
    started = time.monotonic()
    report = check_draft(draft([template]))
    assert time.monotonic() - started < 10
    [problem] = report.problems
    assert problem.location == "template 1" and problem.customers == 3
    assert "cannot render for 3 customer(s): " in problem.message and reason in problem.message
    with pytest.raises(InvalidInput, match=reason):
        compose(db, templates=[template])
    assert db.campaigns.count_documents({}) == 0


def test_a_message_over_the_limits_at_snapshot_time_is_a_failed_row(db):
    load_customers(db, 3)
    campaign, _ = compose(db)
    bomb = "{% for a in name %}{% for b in name %}{% for c in name %}..{% endfor %}{% endfor %}{% endfor %}"
    long_name = {"customer_id": "c001", "name": "Asha " + "k" * 15, "phone": "+919800000001", "consent_sms": "yes"}
    write_records(db, "customers", validate_records("customers", [long_name]).valid)
    analytic_copy.close_all()  # the snapshot reads the changed name
    db.campaigns.update_one({"_id": object_id(campaign.id)}, {"$set": {"templates": [bomb]}})
    assert take_snapshot(db, get_campaign(db, campaign.id)) == 3
    rows = {r["customer_id"]: r for r in log_rows(db, campaign.id)}
    assert rows["c001"]["status"] == FAILED and rows["c001"]["message"] is None
    assert "not rendered: the message is longer than 5,000 characters" in rows["c001"]["error"]
    assert rows["c000"]["status"] == PENDING and rows["c000"]["message"] == "." * 2 * 6**3
    assert db.campaigns.find_one({"_id": object_id(campaign.id)})["snapshot_done"] is True
