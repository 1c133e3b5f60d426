"""Opt-outs: the signed unsubscribe link of an email, STOP replies through the signed inbound
webhook, suppression lists; and that no later import or API write of "yes" undoes them."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from crm.auth import CLI
from crm.campaigns.audience import SUPPRESSED
from crm.campaigns.dispatcher import _payload
from crm.campaigns.model import CampaignDraft
from crm.campaigns.repository import get_campaign
from crm.campaigns.service import compose_campaign
from crm.campaigns.signing import HEADER, receipt_secrets, sign
from crm.campaigns.snapshot import take_snapshot
from crm.campaigns.unsubscribe import FOOTER, Unsubscribe, make_token, read_token, unsubscribe_secret, unsubscribe_url
from crm.config import load_settings
from crm.errors import InvalidInput
from crm.ingest.erasure import erase_customer
from crm.ingest.records import validate_records
from crm.ingest.writer import write_records
from tests.campaign_support import EVERYONE, load_customers


@pytest.fixture
def customers(db, fresh_copies):
    return load_customers(db, 6)


def consent(db, customer_id: str, channel: str) -> dict:
    return db.customers.find_one({"customer_id": customer_id})["consent"][channel]


def email_campaign(db, name: str = "newsletter") -> str:
    draft = CampaignDraft.build(name=name, channel="email", templates=["Hi {{ first_name }}"], rules=EVERYONE)
    campaign, _ = compose_campaign(db, CLI, draft)
    take_snapshot(db, get_campaign(db, campaign.id))
    return campaign.id


def test_every_email_carries_its_own_signed_link_and_the_vendor_headers(db, customers):
    campaign_id = email_campaign(db)
    row = db.communication_log.find_one({"campaign_id": campaign_id, "customer_id": "c001"})
    url = row["unsubscribe_url"]
    assert row["message"] == "Hi Asha"  # the stored log (its page, its CSV) holds no working link
    assert _payload(row)["body"] == f"Hi Asha\n\n{FOOTER}{url}"
    token = url.rsplit("/u/", 1)[1]
    assert read_token(unsubscribe_secret(load_settings()), token) == Unsubscribe("c001", "email", campaign_id)
    assert _payload(row)["headers"] == {
        "List-Unsubscribe": f"<{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    sms = CampaignDraft.build(name="sms", channel="sms", templates=["Hi"], rules=EVERYONE)
    sms_id = compose_campaign(db, CLI, sms)[0].id
    take_snapshot(db, get_campaign(db, sms_id))
    assert "unsubscribe_url" not in db.communication_log.find_one({"campaign_id": sms_id})


def test_the_link_shows_a_page_then_unsubscribes_once_and_no_import_undoes_it(db, customers, api):
    url = unsubscribe_url(load_settings(), Unsubscribe("c002", "email", "65f0c0ffee0000000000abcd"))
    path = url.split("/u/", 1)[1]
    page = httpx.get(f"{api.url}/u/{path}")
    assert page.status_code == 200 and "<button" in page.text
    assert consent(db, "c002", "email")["status"] == "yes"  # opening the link (a mail scanner) does nothing

    done = httpx.post(f"{api.url}/u/{path}", data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    stored = consent(db, "c002", "email")
    assert stored["status"] == "no" and stored["opted_out_at"] is not None
    assert consent(db, "c002", "sms")["status"] == "yes"  # only the link's channel
    again = httpx.post(f"{api.url}/u/{path}")
    assert again.status_code == 200 and "nothing more to do" in again.text
    assert db.audit_log.count_documents({"action": "consent.opt_out", "target": "c002"}) == 1

    # The shop's system still says yes: neither an import nor the API turns it back on, not even
    # by way of "unknown" first (Shopify's not_subscribed).
    for word in ("not_subscribed", "yes"):
        row = {"customer_id": "c002", "name": "Asha 2", "consent_email": word, "consent_sms": "no"}
        write_records(db, "customers", validate_records("customers", [row]).valid)
        assert consent(db, "c002", "email")["status"] == "no"
    # The person, not only the record: another record with their address is held back too.
    twin = {"customer_id": "twin", "name": "Asha", "email": "ASHA2@example.com", "consent_email": "yes"}
    write_records(db, "customers", validate_records("customers", [twin]).valid)
    _, report = compose_campaign(
        db, CLI, CampaignDraft.build(name="n", channel="email", templates=["Hi"], rules=EVERYONE)
    )
    assert report.excluded["suppressed"] == 1
    assert consent(db, "c002", "sms")["status"] == "no"  # an ordinary change still applies
    history = db.customers.find_one({"customer_id": "c002"})["consent_history"]
    assert [(h["channel"], h["status"]) for h in history][-2:] == [("email", "no"), ("sms", "no")]
    assert db.audit_log.count_documents({"action": "consent.opt_out"}) == 1
    assert "c002" not in {r["customer_id"] for r in db.communication_log.find({"campaign_id": email_campaign(db)})}


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-3],  # cut short
        lambda token: make_token(b"another secret", Unsubscribe("c003", "email", "x")),  # made up
        # someone else's id with the signature of a link of one's own
        lambda token: make_token(b"x", Unsubscribe("c003", "email", "x")).split(".")[0] + "." + token.split(".")[1],
        lambda token: "not-a-token",
    ],
)
def test_a_forged_or_damaged_link_unsubscribes_nobody(db, customers, api, tamper):
    mine = unsubscribe_url(load_settings(), Unsubscribe("c004", "email", "x")).split("/u/", 1)[1]
    answer = httpx.post(f"{api.url}/u/{tamper(mine)}")
    assert answer.status_code == 400 and "not valid" in answer.text and "Traceback" not in answer.text
    assert all(consent(db, c, "email")["status"] == "yes" for c in customers)


def post_reply(api, reply: dict, signed_at: int | None = None, secret: bytes | None = None) -> httpx.Response:
    body = json.dumps(reply).encode()
    key = secret or receipt_secrets(load_settings()).current
    headers = {"Content-Type": "application/json", HEADER: sign(key, body, signed_at)}
    return httpx.post(f"{api.url}/api/v1/inbound-messages", content=body, headers=headers)


def test_stop_replies_turn_the_channel_off_once_and_other_replies_do_nothing(db, customers, api):
    phone = db.customers.find_one({"customer_id": "c001"})["phone"]
    local = phone[3:]  # as the vendor may forward it: without +91
    stop = post_reply(api, {"id": "in-1", "channel": "sms", "from": local, "text": " STOP "})
    assert stop.json() == {"duplicate": False, "stop": True, "opted_out": 1}
    assert consent(db, "c001", "sms")["status"] == "no" and consent(db, "c001", "whatsapp")["status"] == "yes"
    again = post_reply(api, {"id": "in-1", "channel": "sms", "from": local, "text": " STOP "})
    assert again.json() == {"duplicate": True, "stop": False, "opted_out": 0}
    hindi = post_reply(api, {"id": "in-2", "channel": "whatsapp", "from": phone, "text": "Band karo!"})
    assert hindi.json()["opted_out"] == 1 and consent(db, "c001", "whatsapp")["status"] == "no"
    chat = post_reply(api, {"id": "in-3", "channel": "sms", "from": "+919800000002", "text": "don't stop the offers"})
    assert chat.json()["stop"] is False and consent(db, "c002", "sms")["status"] == "yes"
    assert db.audit_log.count_documents({"action": "consent.opt_out"}) == 2
    erase_customer(db, "c001", by=CLI)  # their replies hold their number and their words
    assert db.inbound_messages.count_documents({"from": phone}) == 0
    assert db.inbound_messages.count_documents({}) == 1  # c002's number's chat stays


def test_unsigned_stale_or_wrongly_signed_replies_are_refused(db, customers, api):
    reply = {"id": "in-9", "channel": "sms", "from": "+919800000001", "text": "STOP"}
    stale = post_reply(api, reply, signed_at=int(time.time()) - 3600)  # a captured request, replayed later
    forged = post_reply(api, reply, secret=b"guessed")
    unsigned = httpx.post(f"{api.url}/api/v1/inbound-messages", json=reply)
    assert [r.status_code for r in (stale, forged, unsigned)] == [401, 401, 401]
    assert "old" in stale.json()["error"]["message"]
    assert consent(db, "c001", "sms")["status"] == "yes" and db.inbound_messages.count_documents({}) == 0


def test_a_suppression_list_holds_back_customers_now_and_imported_later(db, customers, cli, tmp_path):
    listing = tmp_path / "dnd.csv"
    listing.write_text("phone\n98000 00001\n+919800000003\n")
    done = cli("import", "suppressions", str(listing), "--channels", "sms,whatsapp", check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "suppressed": 2,
        "channels": ["sms", "whatsapp"],
        "opted_out": 4,  # two customers on file, two channels each
    }
    assert consent(db, "c003", "sms")["status"] == "no" and consent(db, "c003", "email")["status"] == "yes"
    # A customer imported later with a suppressed number and a "yes": held back all the same.
    later = {"customer_id": "late", "name": "Late", "phone": "+919800000003", "consent_sms": "yes"}
    write_records(db, "customers", validate_records("customers", [later]).valid)
    draft = CampaignDraft.build(name="sms", channel="sms", templates=["Hi"], rules=EVERYONE)
    campaign, report = compose_campaign(db, CLI, draft)
    assert report.excluded[SUPPRESSED] == 1 and report.excluded["no_consent"] == 2
    take_snapshot(db, get_campaign(db, campaign.id))
    assert db.communication_log.count_documents({"campaign_id": campaign.id, "customer_id": "late"}) == 0
    assert get_campaign(db, campaign.id).excluded[SUPPRESSED] == 1

    bad = tmp_path / "bad.csv"
    bad.write_text("email\nasha@example.com\nnot a contact\n")
    refused = cli("import", "suppressions", str(bad), "--channels", "email")
    assert refused.returncode == 2 and "row 3" in refused.stderr and "Traceback" not in refused.stderr
    assert db.suppressions.count_documents({"channels": "email"}) == 0  # nothing of a refused file


def test_the_token_of_a_link_never_reaches_the_access_log():
    from crm.api.access_log import redact_query

    assert redact_query("/u/eyJ9.c2ln") == "/u/***"
    assert redact_query("/u/eyJ9.c2ln?x=1") == "/u/***?x=***"


def test_a_snapshot_that_lost_the_caps_lock_stops(db):
    from crm.campaigns.frequency import LedgerLock
    from crm.errors import Unavailable

    first = LedgerLock(db, seconds=1)
    assert first.try_claim()
    db.locks.update_one({}, {"$set": {"until": None}})  # it ran out
    second = LedgerLock(db)
    assert second.try_claim() and not first.try_claim()
    with pytest.raises(Unavailable, match="lock ran out"):
        first.renew()


def test_the_check_refuses_emails_whose_unsubscribe_link_would_break(db, customers, monkeypatch):
    text = "{% for i in range(49) %}" + "x" * 100 + "{% endfor %}"  # 4,900 characters rendered
    long = CampaignDraft.build(name="long", channel="email", templates=[text], rules=EVERYONE)
    with pytest.raises(InvalidInput, match="with its unsubscribe link") as refused:
        compose_campaign(db, CLI, long)
    assert refused.value.location == "template"
    monkeypatch.setenv("CRM_VENDOR_URL", "https://vendor.example.com")  # real customers, local links
    short = CampaignDraft.build(name="short", channel="email", templates=["Hi"], rules=EVERYONE)
    with pytest.raises(InvalidInput, match="customers cannot open: set CRM_PUBLIC_URL"):
        compose_campaign(db, CLI, short)
    monkeypatch.setenv("CRM_PUBLIC_URL", "https://crm.example.in")
    assert compose_campaign(db, CLI, short)[1].ok
