"""Consent is yes, no or unknown per channel, with its source and time; never assumed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crm.analytics import analytic_copy
from crm.auth import CLI, audit
from crm.campaigns import CampaignDraft, check_draft, compose_campaign
from crm.demo import DemoSpec, generate
from crm.errors import InvalidInput
from crm.ingest.consent import parse_declared
from crm.ingest.csv_import import import_csv, suggest_mapping
from tests.campaign_support import EVERYONE

PEOPLE = "customer_id,name,phone,email\nC1,Asha,+919800000001,a@example.com\nC2,Ravi,+919800000002,r@example.com\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def statuses(db, customer_id: str) -> dict[str, str]:
    doc = db.customers.find_one({"customer_id": customer_id})
    return {channel: value["status"] for channel, value in doc["consent"].items()}


def sms_check(db):
    analytic_copy.close_all()
    return check_draft(CampaignDraft.build(name="n", channel="sms", templates=["Hi {{ name }}"], rules=EVERYONE))


def test_customers_without_consent_are_unknown_and_excluded_from_campaigns_and_counted(db, tmp_path):
    import_csv(db, "customers", write(tmp_path, "people.csv", PEOPLE), by=CLI)
    assert statuses(db, "C1") == {"email": "unknown", "sms": "unknown", "whatsapp": "unknown"}
    report = sms_check(db)
    assert report.recipients == 0
    assert report.excluded == {"no_consent": 0, "consent_unknown": 2, "no_contact": 0}
    assert "2 excluded: consent for the channel unknown" in report.summary()
    with pytest.raises(InvalidInput, match="nobody to send to"):
        compose_campaign(db, CLI, CampaignDraft.build(name="n", channel="sms", templates=["Hi"], rules=EVERYONE))


def test_declared_consent_is_recorded_with_the_file_and_who_imported_it(db, tmp_path):
    report = import_csv(
        db, "customers", write(tmp_path, "shop.csv", PEOPLE), by=CLI, consent=parse_declared("sms,email")
    )
    assert statuses(db, "C2") == {"email": "yes", "sms": "yes", "whatsapp": "unknown"}
    sms = db.customers.find_one({"customer_id": "C2"})["consent"]["sms"]
    assert sms["source"] == "file shop.csv (imported by cli)" and sms["at"] is not None
    entry = audit.query({"action": "data.import."}, db=db)[0]
    assert (entry.username, entry.target, entry.details["consent_declared"]) == ("cli", "shop.csv", "email, sms")
    assert entry.details["inserted"] == report.inserted == 2
    check = sms_check(db)
    assert check.recipients == 2 and check.excluded["consent_unknown"] == 0


def test_a_later_explicit_no_wins_over_an_earlier_declared_yes_and_a_declaration_never_undoes_a_no(db, tmp_path):
    import_csv(db, "customers", write(tmp_path, "a.csv", PEOPLE), by=CLI, consent=parse_declared("sms,email,whatsapp"))
    import_csv(db, "customers", write(tmp_path, "b.csv", "customer_id,consent_sms\nC1,no\n"), by=CLI)
    assert statuses(db, "C1")["sms"] == "no"
    # The first file imported again with its declaration: the no stays, C2's yes stays.
    import_csv(db, "customers", write(tmp_path, "a.csv", PEOPLE), by=CLI, consent=parse_declared("sms,email,whatsapp"))
    assert statuses(db, "C1") == {"email": "yes", "sms": "no", "whatsapp": "yes"}
    report = sms_check(db)
    assert report.recipients == 1 and report.excluded["no_consent"] == 1


def test_consent_none_is_recorded_and_declares_nothing(db, tmp_path):
    import_csv(db, "customers", write(tmp_path, "n.csv", PEOPLE), by=CLI, consent=parse_declared("none"))
    assert set(statuses(db, "C1").values()) == {"unknown"}
    assert audit.query({"action": "data.import."}, db=db)[0].details["consent_declared"] == "none"


@pytest.mark.parametrize("text", ["sms,fax", "", "none,sms"])
def test_a_bad_consent_declaration_says_what_to_give(text):
    with pytest.raises(InvalidInput, match="--consent"):
        parse_declared(text)


def test_shopify_and_opt_in_columns_map_onto_consent():
    header = ["Customer ID", "Accepts Email Marketing", "Accepts SMS Marketing", "whatsapp_opt_in"]
    assert suggest_mapping("customers", header) == {
        "Customer ID": "customer_id",
        "Accepts Email Marketing": "consent_email",
        "Accepts SMS Marketing": "consent_sms",
        "whatsapp_opt_in": "consent_whatsapp",
    }
    assert suggest_mapping("customers", ["id", "sms_opt_in"])["sms_opt_in"] == "consent_sms"


def test_the_cli_declares_consent_and_records_it(cli, db, tmp_path):
    path = write(tmp_path, "cli.csv", PEOPLE)
    result = cli("import", "customers", str(path), "--consent", "sms,email,whatsapp", check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1])["inserted"] == 2
    assert statuses(db, "C1") == {"email": "yes", "sms": "yes", "whatsapp": "yes"}
    refused = cli("import", "customers", str(path), "--consent", "pigeon")
    assert refused.returncode == 2 and "'pigeon' is not a channel" in refused.stderr


def test_api_writes_record_the_key_as_the_source_and_bools_or_words_are_accepted(client, db):
    response = client.post(
        "/api/v1/customers",
        json=[
            {"customer_id": "A1", "phone": "+919800000001", "consent": {"sms": True, "email": "unsubscribed"}},
            {"customer_id": "A2"},
        ],
    )
    assert response.status_code == 200, response.text
    assert statuses(db, "A1") == {"email": "no", "sms": "yes", "whatsapp": "unknown"}
    assert statuses(db, "A2") == {"email": "unknown", "sms": "unknown", "whatsapp": "unknown"}
    assert db.customers.find_one({"customer_id": "A1"})["consent"]["sms"]["source"].startswith("api key ")
    entry = audit.query({"action": "api.write."}, db=db)[0]
    assert entry.username.startswith("api key ") and entry.details["items"] == 2
    bad = client.post("/api/v1/customers", json={"customer_id": "A3", "consent": {"sms": "perhaps"}})
    assert bad.status_code == 422 and "consent" in bad.text


def test_documents_from_before_consent_tracking_keep_only_their_explicit_no(db, tmp_path):
    db.customers.insert_one({"customer_id": "OLD", "consent": {"email": True, "sms": False, "whatsapp": True}})
    import_csv(db, "customers", write(tmp_path, "o.csv", "customer_id,consent_whatsapp\nOLD,yes\n"), by=CLI)
    assert statuses(db, "OLD") == {"email": "unknown", "sms": "no", "whatsapp": "yes"}


def test_the_demo_data_holds_a_realistic_mix_of_consent():
    data = generate(DemoSpec(customers=2_000, orders=0, seed=7))
    for channel in ("email", "sms", "whatsapp"):
        shares = {s: sum(c["consent"][channel] == s for c in data.customers) / 2_000 for s in ("yes", "no", "unknown")}
        assert 0.5 < shares["yes"] < 0.95 and shares["no"] > 0.02 and shares["unknown"] > 0.02, (channel, shares)
