"""The committed Postman collection is generated from the current OpenAPI document."""

from __future__ import annotations

import json
import subprocess
import sys

from crm.api.app import create_app
from crm.api.postman import build_collection, render
from crm.config import load_settings
from tests.support import ROOT

COLLECTION = ROOT / "docs" / "postman_collection.json"


def test_committed_collection_matches_the_openapi_document():
    expected = render(create_app(load_settings()).openapi())
    assert COLLECTION.read_text(encoding="utf-8") == expected, (
        "docs/postman_collection.json is stale: run python scripts/make_postman.py"
    )


def test_every_operation_is_a_request_with_the_right_auth():
    document = create_app(load_settings()).openapi()
    collection = build_collection(document)
    requests = {
        (item["request"]["method"], item["request"]["url"]["raw"]): item
        for folder in collection["item"]
        for item in folder["item"]
    }
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            raw = "{{baseUrl}}" + path.replace("{", ":").replace("}", "")
            item = requests[(method.upper(), raw)]
            assert ("auth" not in item["request"]) == bool(operation.get("security")), raw
            if "requestBody" in operation:
                json.loads(item["request"]["body"]["raw"])


def test_the_script_check_mode_accepts_the_committed_file():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_postman.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
