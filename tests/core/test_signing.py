"""Timestamped webhook signatures: what is accepted, what is refused and the reason given."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from crm.api.app import create_app
from crm.api.postman import build_collection
from crm.campaigns.signing import SECRET_FILE, SignatureError, parse, receipt_secrets, sign, verify
from crm.config import load_settings

SECRET, OLD = b"current-secret", b"previous-secret"
BODY = b'{"idempotency_key":"665f1c2e9b1d4a0012345678:c000","status":"DELIVERED"}'
NOW = 1_750_000_000
TOLERANCE = 300


def refused(header, body=BODY, now=NOW, secrets=(SECRET,)) -> str:
    with pytest.raises(SignatureError) as caught:
        verify(secrets, body, header, tolerance=TOLERANCE, now=now)
    return str(caught.value)


def test_the_header_is_stripes_scheme_over_timestamp_dot_body():
    expected = hmac.new(SECRET, f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, NOW) == f"t={NOW},v1={expected}"


def test_a_fresh_signature_is_accepted_within_the_tolerance_either_side():
    for skew in (0, TOLERANCE, -TOLERANCE):
        assert verify([SECRET], BODY, sign(SECRET, BODY, NOW + skew), tolerance=TOLERANCE, now=NOW) == NOW + skew


def test_a_six_minute_old_signature_is_refused_saying_by_how_much():
    assert "360 s old, 60 s more than the 300 s allowed" in refused(sign(SECRET, BODY, NOW - 360))


def test_a_signature_from_the_future_is_refused():
    assert "400 s in the future" in refused(sign(SECRET, BODY, NOW + 400))


def test_a_captured_header_does_not_sign_another_body():
    captured = sign(SECRET, BODY, NOW)
    assert "does not match the body" in refused(captured, body=BODY.replace(b"DELIVERED", b"FAILED"))


def test_a_restamped_header_fails_since_the_timestamp_is_signed():
    old = sign(SECRET, BODY, NOW - 3600)
    restamped = old.replace(f"t={NOW - 3600}", f"t={NOW}")
    assert "does not match the body" in refused(restamped)


def test_the_wrong_secret_is_refused():
    assert "does not match the body" in refused(sign(b"guess", BODY, NOW))


def test_any_matching_v1_entry_is_enough_and_other_schemes_are_ignored():
    good = sign(SECRET, BODY, NOW).split("v1=")[1]
    wrong = sign(b"other", BODY, NOW).split("v1=")[1]
    for header in (f"t={NOW},v1={wrong},v0=abc,v1={good}", f"v1={good.upper()},t={NOW}"):
        assert verify([SECRET], BODY, header, tolerance=TOLERANCE, now=NOW) == NOW


def test_during_a_rotation_the_previous_secret_verifies_and_the_current_one_signs():
    settings = dataclasses.replace(load_settings(), receipt_secret="new", receipt_secret_previous="old")
    secrets = receipt_secrets(settings)
    assert secrets.current == b"new" and secrets.accepted == (b"new", b"old")
    for key in (b"new", b"old"):
        assert verify(secrets.accepted, BODY, sign(key, BODY, NOW), tolerance=TOLERANCE, now=NOW) == NOW
    assert "does not match" in refused(sign(b"older", BODY, NOW), secrets=secrets.accepted)


def test_without_a_configured_secret_one_is_generated_into_the_data_dir(tmp_path):
    settings = dataclasses.replace(
        load_settings(), data_dir=tmp_path, receipt_secret=None, receipt_secret_previous=None
    )
    secrets = receipt_secrets(settings)
    assert secrets.current == (tmp_path / SECRET_FILE).read_text().strip().encode() and secrets.previous == ()
    assert receipt_secrets(settings) == secrets


def test_tolerance_and_previous_secret_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("CRM_SIGNATURE_TOLERANCE_SECONDS", "60")
    monkeypatch.setenv("CRM_RECEIPT_SECRET_PREVIOUS", "old")
    settings = load_settings()
    assert settings.signature_tolerance_seconds == 60 and settings.receipt_secret_previous == "old"
    monkeypatch.delenv("CRM_SIGNATURE_TOLERANCE_SECONDS")
    assert load_settings().signature_tolerance_seconds == 300


DIGEST = "a" * 64
MALFORMED = [
    (None, "is missing"),
    ("", "is empty"),
    ("sha256=" + DIGEST, "exactly one t=<unix seconds>, not 0"),  # the old unstamped scheme
    (f"t={NOW}", "no v1= signature"),
    (f"v1={DIGEST}", "exactly one t="),
    (f"t={NOW},t={NOW},v1={DIGEST}", "exactly one t="),
    (f"t={NOW}, v1={DIGEST}", "has spaces in it"),
    (f"t={NOW},\tv1={DIGEST}", "has spaces in it"),
    (f"t = {NOW},v1={DIGEST}", "has spaces in it"),
    (f"t={NOW},v1={DIGEST}\u00e9", "not ASCII"),
    (f"t=\u0661\u0662,v1={DIGEST}", "not ASCII"),  # Arabic-Indic digits
    (f"t={NOW};v1={DIGEST}", "is not key=value"),
    (f"t={NOW},,v1={DIGEST}", "'' is not key=value"),
    (f"t={NOW},v1", "'v1' is not key=value"),
    (f"t={NOW},v1={DIGEST}=", "is not key=value"),
    (f"t=-5,v1={DIGEST}", "is not a whole number"),
    (f"t=1.5,v1={DIGEST}", "is not a whole number"),
    (f"t={'9' * 5000},v1={DIGEST}", "is not a whole number"),
    (f"t=,v1={DIGEST}", "is not a whole number"),
    (f"t={NOW},v1=", "not 64 hex digits"),
    (f"t={NOW},v1={'g' * 64}", "not 64 hex digits"),
    (f"t={NOW},v1={DIGEST}ab", "not 64 hex digits"),
]


@pytest.mark.parametrize("header, reason", MALFORMED)
def test_a_missing_or_malformed_header_is_refused_with_the_reason(header, reason):
    assert reason in refused(header)


def test_parse_returns_the_timestamp_and_every_v1_digest():
    assert parse(f"t={NOW},v1={DIGEST},v1={'B' * 64}") == (NOW, [DIGEST, "b" * 64])


def _signing_script() -> tuple[list[str], str]:
    collection = build_collection(create_app(load_settings()).openapi())
    for folder in collection["item"]:
        for item in folder["item"]:
            if item["request"]["url"]["raw"] == "{{baseUrl}}/api/v1/delivery-receipts":
                return item["event"][0]["script"]["exec"], item["request"]["body"]["raw"]
    raise AssertionError("no delivery receipt request in the collection")


@pytest.mark.skipif(not shutil.which("node"), reason="needs Node.js")
def test_the_postman_pre_request_script_computes_a_header_the_endpoint_accepts(tmp_path: Path):
    """The script runs under Node with stand-ins for Postman's `pm` and CryptoJS (HMAC via node:crypto)."""
    script, body = _signing_script()
    sandbox = (
        """
const crypto = require("node:crypto");
const CryptoJS = {enc: {Hex: "hex"}, HmacSHA256: (message, key) =>
  ({toString: (enc) => crypto.createHmac("sha256", Buffer.from(key, "utf8"))
    .update(Buffer.from(message, "utf8")).digest(enc)})};
const headers = {};
const pm = {variables: {get: (k) => ({receiptSecret: "s3cr\u00e9t"})[k], replaceIn: (s) => s},
            request: {body: {raw: BODY}, headers: {upsert: (h) => { headers[h.key] = h.value; }}}};
""".replace("BODY", json.dumps(body))
        + "\n".join(script)
        + "\nconsole.log(JSON.stringify(headers));"
    )
    (tmp_path / "sign.js").write_text(sandbox, encoding="utf-8")
    result = subprocess.run(["node", str(tmp_path / "sign.js")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    header = json.loads(result.stdout)["X-Signature"]
    assert verify(["s3cr\u00e9t".encode()], body.encode(), header, tolerance=TOLERANCE) == parse(header)[0]
