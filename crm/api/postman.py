"""A Postman collection (v2.1) generated from the API's OpenAPI document.

One folder per tag, one request per operation with the first documented body example, and the
documented response examples saved with it. An operation declared signed (`signing.py`'s
OpenAPI extension) gets a pre-request script computing its signature header at send time, from
a collection variable holding the secret. Output is deterministic, so a test can tell when the
committed collection is stale.
"""

from __future__ import annotations

import json
import re
from typing import Any

from crm.campaigns.signing import OPENAPI_EXTENSION

SCHEMA_URL = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
JSON_HEADER = [{"key": "Content-Type", "value": "application/json"}]


def build_collection(openapi: dict) -> dict:
    folders: dict[str, list] = {}
    secrets: dict[str, str] = {}
    for path, methods in openapi["paths"].items():
        for method, operation in methods.items():
            tag = (operation.get("tags") or ["other"])[0]
            folders.setdefault(tag, []).append(_item(path, method, operation))
            if OPENAPI_EXTENSION in operation:
                signed = operation[OPENAPI_EXTENSION]
                secrets[signed["secret"]] = signed["secret_source"]
    return {
        "info": {
            "name": openapi["info"]["title"],
            "description": openapi["info"].get("description", ""),
            "version": openapi["info"]["version"],
            "schema": SCHEMA_URL,
        },
        "auth": {"type": "bearer", "bearer": [{"key": "token", "value": "{{apiKey}}", "type": "string"}]},
        "variable": [
            {"key": "baseUrl", "value": "http://127.0.0.1:8000"},
            {"key": "apiKey", "value": "", "description": "from `python -m crm apikey create NAME`"},
            *({"key": key, "value": "", "description": source} for key, source in secrets.items()),
        ],
        "item": [{"name": tag, "item": items} for tag, items in folders.items()],
    }


def render(openapi: dict) -> str:
    return json.dumps(build_collection(openapi), indent=2, ensure_ascii=False) + "\n"


def _url(path: str, operation: dict) -> dict:
    postman_path = re.sub(r"\{(\w+)\}", r":\1", path)
    url: dict[str, Any] = {
        "raw": "{{baseUrl}}" + postman_path,
        "host": ["{{baseUrl}}"],
        "path": [part for part in postman_path.split("/") if part],
    }
    variables = [
        {"key": p["name"], "value": str(_parameter_example(p)), "description": p.get("description", "")}
        for p in operation.get("parameters", [])
        if p["in"] == "path"
    ]
    if variables:
        url["variable"] = variables
    return url


def _parameter_example(parameter: dict) -> Any:
    if "example" in parameter:
        return parameter["example"]
    examples = parameter.get("examples") or parameter.get("schema", {}).get("examples") or [""]
    return examples[0] if isinstance(examples, list) else next(iter(examples.values()))["value"]


def _request(path: str, method: str, operation: dict) -> dict:
    request: dict[str, Any] = {
        "method": method.upper(),
        "header": [],
        "url": _url(path, operation),
        "description": operation.get("description", operation.get("summary", "")),
    }
    if not operation.get("security"):
        request["auth"] = {"type": "noauth"}
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content:
        first: dict = next(iter(content.get("examples", {}).values()), {})
        example = first.get("value", content.get("example", {}))
        request["header"] = JSON_HEADER
        request["body"] = {
            "mode": "raw",
            "raw": json.dumps(example, indent=2, ensure_ascii=False),
            "options": {"raw": {"language": "json"}},
        }
    return request


def _item(path: str, method: str, operation: dict) -> dict:
    request = _request(path, method, operation)
    responses = []
    for status, response in operation.get("responses", {}).items():
        example = response.get("content", {}).get("application/json", {}).get("example")
        if example is None:
            continue
        responses.append(
            {
                "name": f"{status} {response.get('description', '')}".strip(),
                "originalRequest": request,
                "code": int(status),
                "header": JSON_HEADER,
                "_postman_previewlanguage": "json",
                "body": json.dumps(example, indent=2, ensure_ascii=False),
            }
        )
    item = {"name": operation.get("summary", f"{method.upper()} {path}"), "request": request, "response": responses}
    if OPENAPI_EXTENSION in operation:
        item["event"] = [
            {
                "listen": "prerequest",
                "script": {"type": "text/javascript", "exec": _signing_script(operation[OPENAPI_EXTENSION])},
            }
        ]
    return item


def _signing_script(signed: dict) -> list[str]:
    """Postman JavaScript (CryptoJS) signing the body as sent: t=<unix seconds>,v1=<HMAC-SHA256 of "<t>.<body>">."""
    header, secret = json.dumps(signed["header"]), json.dumps(signed["secret"])
    return [
        f'// {signed["header"]}: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">, fresh at each send',
        f"const secret = pm.variables.get({secret});",
        "if (!secret) throw new Error("
        + json.dumps(f"set the {signed['secret']} variable: {signed['secret_source']}")
        + ");",
        "const t = Math.floor(Date.now() / 1000);",
        'const body = pm.request.body && pm.request.body.raw ? pm.variables.replaceIn(pm.request.body.raw) : "";',
        'const v1 = CryptoJS.HmacSHA256(t + "." + body, secret).toString(CryptoJS.enc.Hex);',
        f'pm.request.headers.upsert({{key: {header}, value: "t=" + t + ",v1=" + v1}});',
    ]
