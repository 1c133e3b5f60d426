"""The sign-in back-off after wrong passwords, on a real database and a clock the tests move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm.auth import CLI, SystemPrincipal, audit, throttle, users
from crm.errors import Forbidden

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
HERE, ELSEWHERE = "203.0.113.7", "198.51.100.2"


def fail(times: int, username: str = "admin", client: str = HERE, *, start: datetime = T0, db) -> datetime:
    """`times` wrong passwords, each as soon as the back-off allows; returns the clock after them."""
    now = start
    for _ in range(times):
        now += timedelta(seconds=throttle.wait_seconds(username, client, now=now, db=db))
        throttle.note_failure(username, client, now=now, db=db)
    return now


def test_five_wrong_passwords_are_free_then_the_wait_doubles(db):
    waits = []
    now = T0
    for _ in range(9):
        waits.append(throttle.note_failure("admin", HERE, now=now, db=db))
        now += timedelta(seconds=waits[-1])
    assert waits == [0, 0, 0, 0, 2, 4, 8, 16, 32]


def test_the_wait_counts_down_and_then_the_next_try_is_allowed(db):
    now = fail(6, db=db)
    assert throttle.wait_seconds("admin", HERE, now=now, db=db) == 4
    assert throttle.wait_seconds("admin", HERE, now=now + timedelta(seconds=1.5), db=db) == 3
    assert throttle.wait_seconds("admin", HERE, now=now + timedelta(seconds=4), db=db) == 0


def test_an_admin_is_never_locked_out_for_good(db):
    now = fail(200, db=db)
    assert throttle.wait_seconds("admin", HERE, now=now, db=db) == throttle.MAX_WAIT_SECONDS == 900
    assert throttle.wait_seconds("admin", HERE, now=now + timedelta(minutes=15), db=db) == 0


def test_someone_guessing_elsewhere_does_not_keep_the_admin_out(db):
    now = fail(12, client=ELSEWHERE, db=db)
    assert throttle.wait_seconds("admin", ELSEWHERE, now=now, db=db) > 60
    assert throttle.wait_seconds("admin", HERE, now=now, db=db) == 0


def test_one_client_spreading_guesses_over_many_accounts_waits_too(db):
    now = T0
    for n in range(throttle.FREE_FAILURES[throttle.CLIENT]):
        throttle.note_failure(f"user{n}", HERE, now=now, db=db)  # 1 failure each: free per account
    assert throttle.wait_seconds("someone-new", HERE, now=now, db=db) == 2
    assert throttle.wait_seconds("someone-new", ELSEWHERE, now=now, db=db) == 0


def test_a_right_password_forgives_that_clients_failures(db):
    now = fail(7, db=db)
    throttle.note_success("admin", HERE, db=db)
    assert throttle.wait_seconds("admin", HERE, now=now, db=db) == 0
    assert throttle.note_failure("admin", HERE, now=now, db=db) == 0  # counting starts again


def test_an_hour_without_failures_starts_the_count_again(db):
    now = fail(8, db=db) + throttle.FORGET_AFTER
    assert throttle.note_failure("admin", HERE, now=now, db=db) == 0


def test_a_typed_username_is_matched_as_the_sign_in_form_matches_it(db):
    now = fail(6, "Admin ", db=db)
    assert throttle.wait_seconds("admin", HERE, now=now, db=db) == 4


def test_an_admin_unlock_lifts_every_wait_on_the_account_and_is_audited(db):
    users.add_local_user(CLI, "mia", "marketer", db=db)
    fail(7, "mia", HERE, db=db)
    fail(9, "mia", ELSEWHERE, db=db)
    fail(6, "vic", HERE, db=db)
    assert set(throttle.waiting_accounts(now=T0 + timedelta(seconds=1), db=db)) == {"mia", "vic"}
    assert users.unlock(CLI, "mia", db=db) == 2
    assert throttle.wait_seconds("mia", HERE, db=db) == throttle.wait_seconds("mia", ELSEWHERE, db=db) == 0
    assert set(throttle.waiting_accounts(now=T0 + timedelta(seconds=1), db=db)) == {"vic"}
    assert [(e.action, e.target, e.details) for e in audit.query({"action": "user.unlock"}, db=db)] == [
        ("user.unlock", "mia", {"clients": 2})
    ]


def test_only_admins_unlock(db):
    users.add_local_user(CLI, "mia", "marketer", db=db)
    with pytest.raises(Forbidden):
        users.unlock(SystemPrincipal("mark", "marketer"), "mia", db=db)


def test_a_password_reset_lifts_the_wait_too(db):
    users.add_local_user(CLI, "mia", "marketer", db=db)
    fail(10, "mia", db=db)
    users.reset_password(CLI, "mia", db=db)
    assert throttle.wait_seconds("mia", HERE, db=db) == 0


def test_an_oidc_login_is_seen_once_however_many_tabs_show_it(db):
    assert users.first_sight_of_login("ann@corp.com", "iss\nsub\n1764666000\nnonce-1", db=db)
    assert not users.first_sight_of_login("ann@corp.com", "iss\nsub\n1764666000\nnonce-1", db=db)
    assert users.first_sight_of_login("ann@corp.com", "iss\nsub\n1764669600\nnonce-2", db=db)


def test_the_first_start_notice_names_the_admin_and_its_one_time_password_once(db):
    notice = users.first_start_notice(db=db)
    username, password = [line.split(": ", 1)[1] for line in notice.splitlines()[1:3]]
    stored = db.users.find_one({"username": username})
    assert username == "admin" and users.check_password(password, stored["password_hash"])
    assert users.first_start_notice(db=db) is None
    assert password not in str(list(db.audit_log.find({}, {"_id": 0})))
