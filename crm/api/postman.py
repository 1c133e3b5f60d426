"""A Postman collection (v2.1) generated from the API's OpenAPI document.

One folder per tag, one request per operation with the first documented body example, and the
documented response examples saved with it. Output is deterministic, so a test can tell when
the committed collection is stale.
"""

from __future__ import annotations

import json
import re
from typing import Any

SCHEMA_URL = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
JSON_HEADER = [{"key": "Content-Type", "value": "application/json"}]


def build_collection(openapi: dict) -> dict:
    folders: dict[str, list] = {}
    for path, methods in openapi["paths"].items():
        for method, operation in methods.items():
            tag = (operation.get("tags") or ["other"])[0]
            folders.setdefault(tag, []).append(_item(path, method, operation))
    return {
        "info": {"name": openapi["info"]["title"], "description": openapi["info"].get("description", ""),
                 "version": openapi["info"]["version"], "schema": SCHEMA_URL},
        "auth": {"type": "bearer", "bearer": [{"key": "token", "value": "{{apiKey}}", "type": "string"}]},
        "variable": [{"key": "baseUrl", "value": "http://127.0.0.1:8000"},
                     {"key": "apiKey", "value": "", "description": "from `python -m crm apikey create NAME`"}],
        "item": [{"name": tag, "item": items} for tag, items in folders.items()],
    }


def render(openapi: dict) -> str:
    return json.dumps(build_collection(openapi), indent=2, ensure_ascii=False) + "\n"


def _url(path: str, operation: dict) -> dict:
    postman_path = re.sub(r"\{(\w+)\}", r":\1", path)
    url: dict[str, Any] = {"raw": "{{baseUrl}}" + postman_path, "host": ["{{baseUrl}}"],
                           "path": [part for part in postman_path.split("/") if part]}
    variables = [{"key": p["name"], "value": str(_parameter_example(p)), "description": p.get("description", "")}
                 for p in operation.get("parameters", []) if p["in"] == "path"]
    if variables:
        url["variable"] = variables
    return url


def _parameter_example(parameter: dict) -> Any:
    if "example" in parameter:
        return parameter["example"]
    examples = parameter.get("examples") or parameter.get("schema", {}).get("examples") or [""]
    return examples[0] if isinstance(examples, list) else next(iter(examples.values()))["value"]


def _request(path: str, method: str, operation: dict) -> dict:
    request: dict[str, Any] = {"method": method.upper(), "header": [], "url": _url(path, operation),
                               "description": operation.get("description", operation.get("summary", ""))}
    if not operation.get("security"):
        request["auth"] = {"type": "noauth"}
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content:
        example = next(iter(content.get("examples", {}).values()), {}).get("value", content.get("example", {}))
        request["header"] = JSON_HEADER
        request["body"] = {"mode": "raw", "raw": json.dumps(example, indent=2, ensure_ascii=False),
                           "options": {"raw": {"language": "json"}}}
    return request


def _item(path: str, method: str, operation: dict) -> dict:
    request = _request(path, method, operation)
    responses = []
    for status, response in operation.get("responses", {}).items():
        example = response.get("content", {}).get("application/json", {}).get("example")
        if example is None:
            continue
        responses.append({"name": f"{status} {response.get('description', '')}".strip(),
                          "originalRequest": request, "code": int(status),
                          "header": JSON_HEADER, "_postman_previewlanguage": "json",
                          "body": json.dumps(example, indent=2, ensure_ascii=False)})
    return {"name": operation.get("summary", f"{method.upper()} {path}"), "request": request,
            "response": responses}
