"""Every write and export checks who acts, proved from the source and by running each as a viewer.

1. Reading the code: every function of `crm/` and `app_pages/` that writes to MongoDB itself either
   checks its principal (`@requires(...)` or a `require(...)` call) or is listed below with the
   reason it is no user action; a function listed as reached only through checked ones must have
   no other callers. A new write path without a check fails here.
2. Every checked function appears in ACTIONS, which calls it as a viewer: Forbidden, and no
   collection changes (the audit log aside) and no file appears.
"""

from __future__ import annotations

import ast
from datetime import timedelta

import pytest

from crm.analytics.export import export_csv
from crm.api.accept import accept_batch
from crm.auth import CLI, SystemPrincipal, api_keys, users
from crm.auth.api_keys import ApiKey
from crm.auth.permissions import PERMISSIONS, allowed
from crm.campaigns import CampaignDraft, compose_campaign, send_campaign
from crm.campaigns.dlt import DltTemplate, register_dlt_template
from crm.campaigns.history import log_csv
from crm.campaigns.schedule import cancel_campaign, reschedule_campaign, schedule_campaign
from crm.campaigns.send_test import send_test
from crm.campaigns.sending_rules import FrequencyCap, set_frequency_cap
from crm.config import load_settings
from crm.demo import DemoSpec, load_demo
from crm.errors import Forbidden
from crm.ingest.attribute_registry import register_attribute
from crm.ingest.csv_import import import_csv
from crm.ingest.erasure import erase_customer
from crm.ingest.suppressions import import_suppressions
from crm.segments import create_segment, delete_segment, duplicate_segment, update_segment
from crm.store import get_db
from crm.store.clock import utc_now
from tests.campaign_support import EVERYONE, load_customers
from tests.support import ROOT

WRITE_METHODS = {
    "insert_one",
    "insert_many",
    "update_one",
    "update_many",
    "replace_one",
    "delete_one",
    "delete_many",
    "bulk_write",
    "find_one_and_update",
    "find_one_and_delete",
    "find_one_and_replace",
    "drop",
    "drop_collection",
}

# Writes that no principal asks for directly: bookkeeping of the system itself.
SYSTEM = {
    "crm/auth/audit.py:record": "the audit log itself",
    "crm/auth/api_keys.py:_note_use": "last-used time of a key that was just verified",
    "crm/auth/throttle.py:note_failure": "sign-in back-off after a wrong password",
    "crm/auth/throttle.py:note_success": "sign-in back-off cleared by a right password",
    "crm/auth/throttle.py:clear_account": "back-off cleared by unlock/reset, which check user.admin",
    "crm/auth/users.py:change_own_password": "the signed-in user's own password, with the current one",
    "crm/auth/users.py:oidc_sign_in": "a user's own Google sign-in, under the allow-list",
    "crm/auth/users.py:stamp_login": "last sign-in time",
    "crm/auth/users.py:first_sight_of_login": "dedupes sign-in audit rows",
    "crm/auth/users.py:ensure_first_admin": "the first admin of a workspace that has none, once",
    "crm/campaigns/dispatcher.py:_write": "sending a campaign that send_campaign (checked) started",
    "crm/campaigns/lease.py:claim": "a dispatcher's lease on a campaign",
    "crm/campaigns/lease.py:renew": "a dispatcher's lease on a campaign",
    "crm/campaigns/lease.py:release": "a dispatcher's lease on a campaign",
    "crm/campaigns/scheduler.py:_owner_may_still_send": "cancels a due campaign whose owner may no longer send",
    "crm/campaigns/snapshot.py:take_snapshot": "the audience of a campaign send_campaign started",
    "crm/campaigns/snapshot.py:_insert_missing": "the audience of a campaign send_campaign started",
    "crm/campaigns/snapshot.py:_take_snapshot": "the audience of a campaign send_campaign started",
    "crm/ingest/opt_out.py:opt_out": "a customer's own opt-out: a signed link or signed reply proves it "
    "(a suppression list is checked in import_suppressions)",
    "crm/ingest/inbound.py:receive_reply": "customers' replies, forwarded by the vendor and signed",
    "crm/ingest/opt_out.py:opt_out_contact": "a customer's own opt-out: a signed link or signed reply proves it",
    "crm/campaigns/frequency.py:try_claim": "the lock that makes capped snapshots take turns",
    "crm/campaigns/frequency.py:renew": "the lock that makes capped snapshots take turns",
    "crm/campaigns/frequency.py:release": "the lock that makes capped snapshots take turns",
    "crm/campaigns/receipt_journal.py:store_receipts": "delivery receipts, signed by the vendor",
    "crm/campaigns/receipts.py:write_receipts": "delivery receipts, signed by the vendor",
    "crm/campaigns/repository.py:campaign_stats": "caches counters computed from the log",
    "crm/mock_vendor/routes.py:_insert_new": "the mock vendor's own records",
    "crm/mock_vendor/routes.py:_count_again": "the mock vendor's own records",
    "crm/mock_vendor/poster.py:_checkpoint": "the mock vendor's own records",
    "crm/mock_vendor/poster.py:_take_over": "the mock vendor's own records",
    "crm/segments/repository.py:record_count": "caches a saved segment's last count",
    "crm/ingest/streams.py:_write": "the worker writes batches accept_batch (checked) queued",
    "crm/ingest/erasure.py:erase_again": "re-erases a customer a checked erasure took out and a queued write put back",
    "crm/ingest/migrations.py:normalise_stored_customers": "the operator's migration at serve or db migrate, once",
    "crm/ingest/migrations.py:_one_spelling_per_city": "the operator's migration at serve or db migrate, once",
    "crm/ingest/city_spellings.py:register_spellings": "city spellings of records a checked write is writing",
    "crm/api/routes/health.py:_database_problem": "the health check's own heartbeat document",
    "crm/store/watchdog.py:_probe": "the embedded server's watchdog heartbeat",
    "crm/bench/campaign.py:*": "a benchmark on a database of its own",
    "crm/bench/imports.py:*": "a benchmark on a database of its own",
    "crm/bench/api.py:*": "a benchmark on a database of its own",
}
# Writers reached only through checked functions: the test follows their callers.
BEHIND = {
    "crm/ingest/writer.py:_write_chunk",
    "crm/ingest/writer.py:write_records",
    "crm/demo/load.py:clear_customers_and_orders",
    "crm/demo/load.py:remove_demo_campaign",
    "crm/demo/campaign.py:add_demo_campaign",
    "crm/demo/campaign.py:_record_delivery",
    "crm/ingest/erasure.py:_erase_at_vendor",
    "crm/segments/repository.py:_insert",
    "crm/auth/users.py:_insert",
    "crm/auth/api_keys.py:create_key",
    "crm/auth/api_keys.py:revoke_key",
    "crm/campaigns/repository.py:insert_campaign",
    "crm/ingest/suppressions.py:suppress",
}


def _functions():
    """(place "file:function", node) of every function in crm/ and app_pages/."""
    for path in sorted([*ROOT.glob("crm/**/*.py"), *ROOT.glob("app_pages/*.py"), ROOT / "app.py"]):
        relative = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield f"{relative}:{node.name}", node


def _called_names(node) -> set[str]:
    return {
        n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
        for n in ast.walk(node)
        if isinstance(n, ast.Call)
    }


def _checks_principal(node) -> bool:
    decorated = any(isinstance(d, ast.Call) and getattr(d.func, "id", "") == "requires" for d in node.decorator_list)
    return decorated or "require" in _called_names(node)


def _listed(place: str, table) -> bool:
    return place in table or f"{place.split(':')[0]}:*" in table


FUNCTIONS = list(_functions())
CHECKED = {
    place for place, node in FUNCTIONS if _checks_principal(node) and not place.startswith("crm/auth/permissions.py:")
}


def test_every_function_that_writes_checks_its_principal_or_says_why_not():
    unexplained = [
        place
        for place, node in FUNCTIONS
        if _called_names(node) & WRITE_METHODS
        and place not in CHECKED
        and not _listed(place, SYSTEM)
        and place not in BEHIND
    ]
    assert not unexplained, (
        "these functions write to the database without checking who acts: decorate them "
        f"with @requires(action) or list them here with the reason: {unexplained}"
    )


def test_writers_behind_a_check_are_called_only_from_checked_functions():
    for inner in sorted(BEHIND):
        name = inner.split(":")[1]
        callers = [place for place, node in FUNCTIONS if name in _called_names(node) and place != inner]
        loose = [c for c in callers if c not in CHECKED and c not in BEHIND and not _listed(c, SYSTEM)]
        assert not loose, f"{inner} is reached without a permission check from {loose}"


VIEWER = SystemPrincipal("intern", "viewer")


def _draft():
    return CampaignDraft.build(name="n", channel="sms", templates=["Hi"], rules=EVERYONE)


# place -> how to call it as `who`; `ctx` holds the database, a temp dir and existing ids.
ACTIONS = {
    "crm/analytics/export.py:export_csv": lambda ctx, who: export_csv(
        EVERYONE, ctx["tmp"] / "out.csv", by=who, db=get_db()
    ),
    "crm/api/accept.py:accept_batch": lambda ctx, who: accept_batch(
        ctx["db"], "customers", [{"customer_id": "new"}], by=who
    ),
    "crm/auth/api_keys.py:create": lambda ctx, who: api_keys.create(who, "k2", db=ctx["db"]),
    "crm/auth/api_keys.py:revoke": lambda ctx, who: api_keys.revoke(who, "k1", db=ctx["db"]),
    "crm/auth/users.py:add_local_user": lambda ctx, who: users.add_local_user(who, "mallory", "admin", db=ctx["db"]),
    "crm/auth/users.py:add_oidc_user": lambda ctx, who: users.add_oidc_user(
        who, "m@example.com", "admin", "google", db=ctx["db"]
    ),
    "crm/auth/users.py:set_role": lambda ctx, who: users.set_role(who, "boss", "viewer", db=ctx["db"]),
    "crm/auth/users.py:set_active": lambda ctx, who: users.set_active(who, "boss", False, db=ctx["db"]),
    "crm/auth/users.py:reset_password": lambda ctx, who: users.reset_password(who, "boss", db=ctx["db"]),
    "crm/auth/users.py:unlock": lambda ctx, who: users.unlock(who, "boss", db=ctx["db"]),
    "crm/campaigns/history.py:log_csv": lambda ctx, who: log_csv(ctx["db"], ctx["campaign"], by=who),
    "crm/campaigns/service.py:compose_campaign": lambda ctx, who: compose_campaign(ctx["db"], who, _draft()),
    "crm/campaigns/dlt.py:register_dlt_template": lambda ctx, who: register_dlt_template(
        ctx["db"], DltTemplate("1107161234567890123", "MINCRM", "Hi {#var#}"), by=who
    ),
    "crm/campaigns/send_test.py:send_test": lambda ctx, who: send_test(
        ctx["db"], who, _draft(), "c000", ["9800011111"], "http://127.0.0.1:9", load_settings()
    ),
    "crm/campaigns/sending_rules.py:set_frequency_cap": lambda ctx, who: set_frequency_cap(
        ctx["db"], FrequencyCap(1, 1), by=who
    ),
    "crm/campaigns/service.py:send_campaign": lambda ctx, who: send_campaign(
        ctx["db"], who, ctx["campaign"], "http://127.0.0.1:9", load_settings()
    ),
    "crm/campaigns/schedule.py:schedule_campaign": lambda ctx, who: schedule_campaign(
        ctx["db"], who, _draft(), utc_now() + timedelta(days=1)
    ),
    "crm/campaigns/schedule.py:reschedule_campaign": lambda ctx, who: reschedule_campaign(
        ctx["db"], who, ctx["scheduled"], utc_now() + timedelta(days=2)
    ),
    "crm/campaigns/schedule.py:cancel_campaign": lambda ctx, who: cancel_campaign(ctx["db"], who, ctx["scheduled"]),
    "crm/demo/load.py:load_demo": lambda ctx, who: load_demo(
        ctx["db"], DemoSpec(customers=5, orders=5), reset=True, by=who
    ),
    "crm/ingest/erasure.py:erase_customer": lambda ctx, who: erase_customer(ctx["db"], "c000", by=who),
    "crm/ingest/csv_import.py:import_csv": lambda ctx, who: import_csv(ctx["db"], "customers", ctx["csv"], by=who),
    "crm/ingest/suppressions.py:import_suppressions": lambda ctx, who: import_suppressions(
        ctx["db"], ["+919800000000"], ["sms"], "test list", by=who
    ),
    "crm/ingest/attribute_registry.py:register_attribute": lambda ctx, who: register_attribute(
        ctx["db"], "Loyalty Tier", "text", by=who
    ),
    "crm/segments/repository.py:create_segment": lambda ctx, who: create_segment(ctx["db"], "mine", EVERYONE, by=who),
    "crm/segments/repository.py:update_segment": lambda ctx, who: update_segment(
        ctx["db"], ctx["segment"], name="renamed", by=who
    ),
    "crm/segments/repository.py:duplicate_segment": lambda ctx, who: duplicate_segment(
        ctx["db"], ctx["segment"], by=who
    ),
    "crm/segments/repository.py:delete_segment": lambda ctx, who: delete_segment(ctx["db"], ctx["segment"], by=who),
}


def test_every_checked_function_is_tried_as_a_viewer_below():
    assert CHECKED == set(ACTIONS), (
        f"add the new checked function to ACTIONS (or remove a gone one): {sorted(CHECKED ^ set(ACTIONS))}"
    )


@pytest.fixture
def world(db, tmp_path):
    """One of everything a write could change: customers, a campaign sent now and one scheduled, a
    segment, users, a key."""
    load_customers(db, 3)
    users.add_local_user(CLI, "boss", "admin", db=db)
    api_keys.create(CLI, "k1", db=db)
    campaign, _ = compose_campaign(db, CLI, _draft())
    later, _ = schedule_campaign(db, CLI, _draft(), utc_now() + timedelta(days=1))
    segment = create_segment(db, "theirs", EVERYONE, by=CLI)
    csv_file = tmp_path / "in.csv"
    csv_file.write_text("customer_id,name\nnew,Mallory\n")
    return {
        "db": db,
        "tmp": tmp_path,
        "csv": csv_file,
        "campaign": campaign.id,
        "scheduled": later.id,
        "segment": segment.id,
    }


def _state(db) -> dict:
    return {
        name: sorted(map(repr, db[name].find({}, {"_id": 0})))
        for name in db.list_collection_names()
        if name != "audit_log"
    }


@pytest.mark.parametrize("place", sorted(ACTIONS))
def test_a_viewer_is_refused_and_nothing_is_written(world, place):
    before, files = _state(world["db"]), sorted(world["tmp"].iterdir())
    with pytest.raises(Forbidden):
        ACTIONS[place](world, VIEWER)
    assert _state(world["db"]) == before
    assert sorted(world["tmp"].iterdir()) == files


def test_an_api_key_may_ingest_and_erase_but_nothing_else():
    key = ApiKey(name="shop", prefix="crm_x", created_at=None, last_used_at=None, revoked_at=None)
    assert {action for action in PERMISSIONS if allowed(key, action)} == {"data.import", "customer.erase"}
