"""The API's access log shows query parameter names, never their values.

A client may put a secret in the query string (`?api_key=...`: refused, since keys go in the
Authorization header, but still logged by uvicorn as the request line). Every value is replaced
before the line is written, so no secret sent that way reaches a log file.
"""

from __future__ import annotations

import copy
import logging
from urllib.parse import parse_qsl, quote

import uvicorn.config

REDACTED = "***"


def redact_query(path_with_query: str) -> str:
    """'/a?api_key=s3cret&x=1' -> '/a?api_key=***&x=***'; an unsubscribe link's token -> '/u/***'."""
    path, mark, query = path_with_query.partition("?")
    if path.startswith("/u/"):  # the token unsubscribes a customer: a secret like a key
        path = f"/u/{REDACTED}"
    if not mark:
        return path
    names = [name for name, _ in parse_qsl(query, keep_blank_values=True)]
    if not names:
        return f"{path}?{REDACTED}" if query else f"{path}?"
    return f"{path}?" + "&".join(f"{quote(name, safe='')}={REDACTED}" for name in names)


class RedactQuery(logging.Filter):
    """On uvicorn's access records: args are (client, method, path with query, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_query(args[2]), *args[3:])
        return True


def log_config() -> dict:
    """uvicorn's own logging configuration with the redacting filter on its access handler."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_query"] = {"()": RedactQuery}
    config["handlers"]["access"]["filters"] = ["redact_query"]
    return config
