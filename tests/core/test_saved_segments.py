"""Saved segments in MongoDB: create, read, list, rename, change rules, duplicate, delete."""

from __future__ import annotations

import pytest

from crm.auth import CLI
from crm.errors import Conflict, InvalidInput, NotFound
from crm.segments import (
    create_segment,
    delete_segment,
    duplicate_segment,
    get_segment,
    get_segment_by_name,
    list_segments,
    record_count,
    update_segment,
)

BIG_SPENDERS = {"op": "and", "rules": [{"field": "total_spend", "operator": ">", "value": 5000}]}
MUMBAI = {"op": "and", "rules": [{"field": "city", "operator": "=", "value": "Mumbai"}]}


def test_created_segment_reads_back_with_english_description(db):
    created = create_segment(db, "  Big spenders ", BIG_SPENDERS, owner="ana@example.com", by=CLI)
    fetched = get_segment(db, created.id)
    assert fetched.name == "Big spenders"
    assert fetched.owner == "ana@example.com"
    assert fetched.rules["rules"][0]["field"] == "total_spend"
    assert fetched.description and "spen" in fetched.description.lower()
    assert fetched.last_count is None
    assert get_segment_by_name(db, "Big spenders").id == created.id


def test_duplicate_name_is_a_conflict(db):
    create_segment(db, "Mumbai", MUMBAI, by=CLI)
    with pytest.raises(Conflict, match="Mumbai"):
        create_segment(db, "Mumbai", BIG_SPENDERS, by=CLI)


def test_invalid_rules_are_refused_and_nothing_is_saved(db):
    with pytest.raises(InvalidInput):
        create_segment(
            db, "Broken", {"op": "and", "rules": [{"field": "no_such_field", "operator": "=", "value": 1}]}, by=CLI
        )
    with pytest.raises(InvalidInput, match="name"):
        create_segment(db, "   ", MUMBAI, by=CLI)
    assert list_segments(db) == []


def test_list_is_sorted_by_name_and_filters_by_owner(db):
    create_segment(db, "b", MUMBAI, owner="x", by=CLI)
    create_segment(db, "a", MUMBAI, owner="y", by=CLI)
    assert [s.name for s in list_segments(db)] == ["a", "b"]
    assert [s.name for s in list_segments(db, owner="x")] == ["b"]


def test_rename_to_a_taken_name_is_a_conflict_and_keeps_the_old_name(db):
    first = create_segment(db, "first", MUMBAI, by=CLI)
    create_segment(db, "second", MUMBAI, by=CLI)
    with pytest.raises(Conflict):
        update_segment(db, first.id, name="second", by=CLI)
    assert get_segment(db, first.id).name == "first"
    assert update_segment(db, first.id, name="renamed", by=CLI).name == "renamed"


def test_changing_rules_redescribes_and_forgets_the_last_count(db):
    seg = create_segment(db, "s", MUMBAI, by=CLI)
    record_count(db, seg.id, 42)
    assert get_segment(db, seg.id).last_count == 42
    changed = update_segment(db, seg.id, rules=BIG_SPENDERS, by=CLI)
    assert changed.rules["rules"][0]["field"] == "total_spend"
    assert changed.description != seg.description
    assert changed.last_count is None and changed.last_counted_at is None
    assert changed.updated_at >= seg.updated_at


def test_duplicate_gets_a_fresh_copy_name_each_time(db):
    seg = create_segment(db, "Loyal", MUMBAI, by=CLI)
    first, second = duplicate_segment(db, seg.id, by=CLI), duplicate_segment(db, seg.id, by=CLI)
    assert (first.name, second.name) == ("Loyal (copy)", "Loyal (copy 2)")
    assert first.rules == seg.rules and first.id != seg.id
    with pytest.raises(Conflict):
        duplicate_segment(db, seg.id, new_name="Loyal", by=CLI)


def test_missing_segments_are_not_found(db):
    seg = create_segment(db, "gone", MUMBAI, by=CLI)
    delete_segment(db, seg.id, by=CLI)
    for action in (
        lambda: get_segment(db, seg.id),
        lambda: delete_segment(db, seg.id, by=CLI),
        lambda: update_segment(db, seg.id, name="x", by=CLI),
        lambda: record_count(db, seg.id, 1),
        lambda: get_segment(db, "not-an-id"),
        lambda: get_segment_by_name(db, "gone"),
    ):
        with pytest.raises(NotFound):
            action()


def test_only_roles_that_may_save_change_or_delete_segments(db):
    from crm.auth import SystemPrincipal
    from crm.errors import Forbidden

    viewer, marketer = SystemPrincipal("vera", "viewer"), SystemPrincipal("mo", "marketer")
    seg = create_segment(db, "kept", MUMBAI, by=marketer)
    for act in (
        lambda: create_segment(db, "new", MUMBAI, by=viewer),
        lambda: update_segment(db, seg.id, name="x", by=viewer),
        lambda: duplicate_segment(db, seg.id, by=viewer),
        lambda: delete_segment(db, seg.id, by=viewer),
        lambda: create_segment(db, "anon", MUMBAI, by=None),
    ):
        with pytest.raises(Forbidden):
            act()
    assert [s.name for s in list_segments(db)] == ["kept"]
    delete_segment(db, seg.id, by=marketer)
    assert list_segments(db) == []


def test_each_change_is_in_the_audit_log_with_who_did_it(db):
    from crm.auth import SystemPrincipal, audit

    mo = SystemPrincipal("mo", "marketer")
    seg = create_segment(db, "Mumbai", MUMBAI, by=mo)
    update_segment(db, seg.id, rules=BIG_SPENDERS, by=mo)
    update_segment(db, seg.id, name="Big spenders", by=mo)
    copy = duplicate_segment(db, seg.id, by=mo)
    delete_segment(db, copy.id, by=mo)
    record_count(db, seg.id, 7)  # counting is not a change anyone made

    entries = list(reversed(audit.query({"action": "segment."}, db=db)))
    assert [(e.action, e.target) for e in entries] == [
        ("segment.save", "Mumbai"),
        ("segment.save", "Mumbai"),
        ("segment.rename", "Big spenders"),
        ("segment.duplicate", "Big spenders (copy)"),
        ("segment.delete", "Big spenders (copy)"),
    ]
    assert {(e.username, e.role) for e in entries} == {("mo", "marketer")}
    assert entries[0].details["id"] == seg.id and entries[0].details["new"] is True
    assert entries[2].details == {"id": seg.id, "from": "Mumbai"}
    assert entries[3].details == {"id": copy.id, "from": "Big spenders", "from_id": seg.id}
    assert entries[4].details["id"] == copy.id
    assert {"segment.save", "segment.rename", "segment.duplicate", "segment.delete"} <= set(audit.actions_seen(db=db))


def test_refused_or_failed_changes_leave_no_audit_entry(db):
    from crm.auth import SystemPrincipal, audit
    from crm.errors import Forbidden

    seg = create_segment(db, "kept", MUMBAI, by=CLI)
    create_segment(db, "taken", MUMBAI, by=CLI)
    before = len(audit.query({"action": "segment."}, db=db))
    with pytest.raises(Forbidden):
        delete_segment(db, seg.id, by=SystemPrincipal("vera", "viewer"))
    with pytest.raises(Conflict):
        update_segment(db, seg.id, name="taken", by=CLI)
    with pytest.raises(Conflict):
        duplicate_segment(db, seg.id, new_name="taken", by=CLI)
    assert len(audit.query({"action": "segment."}, db=db)) == before
