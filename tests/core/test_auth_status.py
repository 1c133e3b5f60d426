"""The Settings page's status of each part, checked against real and absent services."""

from __future__ import annotations

import dataclasses

from crm.config import load_settings
from crm.ops.status import all_parts, gemini_status, redis_status, signin_status
from tests.e2e.signin_support import free_port

GOOGLE = {"auth": {"google": {"server_metadata_url": "https://accounts.google.com/.well-known/openid-configuration"}}}


def test_database_answers_and_unset_services_are_reported_as_not_configured(db):
    parts = {p.part: p for p in all_parts(db, load_settings(), {})}
    assert list(parts) == ["Database", "Analytic copy", "Redis", "Gemini", "Sign-in"]
    assert parts["Database"].ok and "answered ping" in parts["Database"].summary
    assert parts["Redis"].ok is None and parts["Gemini"].ok is None
    assert parts["Sign-in"].ok and parts["Sign-in"].summary.startswith("local accounts")


def test_a_redis_that_does_not_answer_is_a_failure():
    settings = dataclasses.replace(load_settings(), redis_url=f"redis://127.0.0.1:{free_port()}/0")
    status = redis_status(settings)
    assert status.ok is False and "not answering" in status.summary


def test_gemini_key_is_reported_without_calling_the_api():
    settings = dataclasses.replace(load_settings(), gemini_api_key="k", gemini_model="m-1")
    assert gemini_status(settings).summary == "key set, model `m-1`"


def test_google_sign_in_with_an_empty_allow_list_is_flagged(db):
    settings = dataclasses.replace(load_settings(), allowed_emails=(), allowed_domains=())
    status = signin_status(settings, GOOGLE, db)
    assert status.ok is False and "allow-list is empty" in status.summary
    settings = dataclasses.replace(settings, allowed_domains=("corp.example",))
    assert "google (accounts.google.com)" in signin_status(settings, GOOGLE, db).summary
