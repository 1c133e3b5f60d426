"""Small helpers every kind of test uses: free ports and waiting on a condition (never a fixed sleep)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the project: where `python -m crm` runs


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, timeout: float = 30, what: str = "condition", every: float = 0.05):
    """The condition's first truthy value; an AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def loaded_duckdb(customers: list[dict], orders: list[dict] = (), only_ids: list[str] | None = None):
    """An in-memory analytic copy holding these rows, features built (for `only_ids` alone if given)."""
    import duckdb

    from crm.segment_engine import build_features, create_base_tables, insert_records

    connection = duckdb.connect(":memory:")
    create_base_tables(connection)
    insert_records(connection, "customers", customers)
    insert_records(connection, "orders", list(orders))
    build_features(connection, only_ids)
    return connection


def rule_audience(connection, rule, as_of) -> set[str]:
    """The customer ids a rule selects, checked to be the same whether city and gender tests
    compare text keys or integer codes (the two forms the compiler has)."""
    from crm.segment_engine import compile_rule, parse_rule
    from crm.segment_engine.codes import resolve_codes

    as_text, as_codes = (
        {row[0] for row in connection.execute(*compile_rule(rule, as_of, codes).query()).fetchall()}
        for codes in (None, resolve_codes(connection, parse_rule(rule)))
    )
    assert as_text == as_codes, f"text keys select {sorted(as_text)}, integer codes {sorted(as_codes)}"
    return as_text


def stop_gently(process, seconds: float = 60) -> None:
    """Ctrl-C a child process (as a person stops `serve`), then kill it if it does not stop."""
    import signal
    import subprocess

    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
