"""`python -m crm apikey ...` and `python -m crm api` as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from crm.auth.api_keys import hash_key
from tests.api_fixtures import free_port, wait_for
from tests.support import ROOT


def test_apikey_create_prints_the_key_last_and_stores_only_its_hash(cli, db):
    result = cli("apikey", "create", "shop backend", check=True)
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("crm_") and len(key) > 40
    stored = db.api_keys.find_one({"name": "shop backend"})
    assert stored["key_hash"] == hash_key(key)
    assert key not in str(stored) and key[len("crm_") :] not in str(stored)


def test_apikey_list_shows_keys_without_revealing_them(cli):
    key = cli("apikey", "create", "shop", check=True).stdout.strip().splitlines()[-1]
    cli("apikey", "create", "backfill", check=True)
    listing = cli("apikey", "list", check=True).stdout
    assert "shop" in listing and "backfill" in listing and key[:12] in listing
    assert key not in listing
    assert listing.splitlines()[0].split() == ["NAME", "PREFIX", "CREATED", "LAST", "USED", "REVOKED"]


def test_apikey_revoke_by_name_or_prefix(cli, db):
    first = cli("apikey", "create", "one", check=True).stdout.strip().splitlines()[-1]
    second = cli("apikey", "create", "two", check=True).stdout.strip().splitlines()[-1]
    assert "revoked" in cli("apikey", "revoke", "one", check=True).stdout
    assert "revoked" in cli("apikey", "revoke", second[:12], check=True).stdout
    assert db.api_keys.count_documents({"revoked_at": None}) == 0
    again = cli("apikey", "revoke", "one")
    assert again.returncode == 2 and "no active API key" in again.stderr and first not in again.stderr


def test_a_second_active_key_with_the_same_name_is_refused(cli):
    cli("apikey", "create", "dup", check=True)
    result = cli("apikey", "create", "dup")
    assert result.returncode == 2 and "dup" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow  # starts the API as a process
def test_api_command_serves_the_test_database_with_a_cli_key(cli, crm_env, db):
    key = cli("apikey", "create", "cli", check=True).stdout.strip().splitlines()[-1]
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "crm", "api", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, **crm_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(url + "/healthz") or process.poll() is not None, 60, "the API process")
        response = httpx.post(
            url + "/api/v1/customers", json={"customer_id": "from-cli"}, headers={"Authorization": f"Bearer {key}"}
        )
        assert response.json() == {"inserted": 1, "updated": 0, "unchanged": 0}
        assert db.customers.count_documents({"customer_id": "from-cli"}) == 1
        # A key in the query string is refused, and the access log keeps only the names.
        in_query = httpx.get(url + f"/api/v1/customers/from-cli?api_key={key}&token={key[::-1]}")
        assert in_query.status_code == 401
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    assert key not in output and key[::-1] not in output  # keys never reach the logs
    assert "GET /api/v1/customers/from-cli?api_key=***&token=*** HTTP/1.1" in output
    assert f"http://127.0.0.1:{port}" in output


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
