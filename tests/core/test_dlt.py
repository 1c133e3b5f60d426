"""DLT for Indian SMS: once the workspace registers its approved templates, an SMS campaign must
name one and every rendered message must be its fixed text with the variables filled in."""

from __future__ import annotations

import pytest

from crm.auth import CLI, SystemPrincipal
from crm.campaigns.dispatcher import _payload
from crm.campaigns.dlt import DltTemplate, dlt_templates, register_dlt_template
from crm.campaigns.model import CampaignDraft
from crm.campaigns.repository import get_campaign
from crm.campaigns.service import compose_campaign
from crm.campaigns.snapshot import take_snapshot
from crm.errors import Forbidden, InvalidInput
from tests.campaign_support import EVERYONE, load_customers

TEMPLATE = DltTemplate("1107161234567890123", "MINCRM", "Hi {#var#}, 20% off till {#var#}. Shop now")


@pytest.fixture
def customers(db, fresh_copies):
    return load_customers(db, 4)


def draft(text: str, template_id: str | None = None, channel: str = "sms") -> CampaignDraft:
    return CampaignDraft.build(
        name="sale", channel=channel, templates=[text], rules=EVERYONE, dlt_template_id=template_id
    )


def test_the_fixed_text_must_match_with_short_variables():
    assert TEMPLATE.matches("Hi Asha, 20% off till Sunday. Shop now")
    assert TEMPLATE.matches("Hi , 20% off till . Shop now")  # a variable may be empty
    assert not TEMPLATE.matches("Hi Asha, 25% off till Sunday. Shop now")  # the fixed text changed
    assert not TEMPLATE.matches("Hi " + "A" * 31 + ", 20% off till Sunday. Shop now")  # over 30 characters
    assert not TEMPLATE.matches("Hi Asha, 20% off till Sunday. Shop now!")


@pytest.mark.parametrize(
    ("fields", "where"),
    [(("123", "MINCRM", "Hi"), "DLT template id"), (("1107161234567890123", "mincrm", "Hi"), "sender header")],
)
def test_a_template_badly_written_is_refused_in_our_words(fields, where):
    with pytest.raises(InvalidInput) as refused:
        DltTemplate(*fields)
    assert refused.value.location == where


def test_without_registered_templates_sms_go_as_before(db, customers):
    _, report = compose_campaign(db, CLI, draft("Anything {{ first_name }}"))
    assert report.ok


def test_once_registered_an_sms_campaign_must_name_a_template_and_match_it(db, customers):
    register_dlt_template(db, TEMPLATE, by=CLI)
    assert dlt_templates(db) == [TEMPLATE]
    with pytest.raises(InvalidInput, match="need a template registered on the DLT platform"):
        compose_campaign(db, CLI, draft("Hi {{ first_name }}, 20% off till Sunday. Shop now"))
    with pytest.raises(InvalidInput, match="999999999999 is not a registered DLT template"):
        compose_campaign(db, CLI, draft("Hi {{ first_name }}", "999999999999"))
    with pytest.raises(InvalidInput) as refused:
        compose_campaign(db, CLI, draft("Hi {{ first_name }}, 30% off till Sunday. Shop now", TEMPLATE.template_id))
    assert refused.value.location == "template 1"
    assert "4 message(s) do not match DLT template 1107161234567890123" in refused.value.message

    campaign, report = compose_campaign(
        db, CLI, draft("Hi {{ first_name }}, 20% off till Sunday. Shop now", TEMPLATE.template_id)
    )
    assert report.ok and campaign.dlt_template_id == TEMPLATE.template_id
    take_snapshot(db, get_campaign(db, campaign.id))
    row = db.communication_log.find_one({"campaign_id": campaign.id})
    payload = _payload(row)
    assert (payload["dlt_template_id"], payload["sender"]) == (TEMPLATE.template_id, "MINCRM")
    # Email is no SMS: DLT does not apply.
    assert compose_campaign(db, CLI, draft("Anything", channel="email"))[1].ok


def test_only_admins_register_templates(db):
    with pytest.raises(Forbidden):
        register_dlt_template(db, TEMPLATE, by=SystemPrincipal("mia", "marketer"))
    assert dlt_templates(db) == []
