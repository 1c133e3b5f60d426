"""DDL of the analytic copy's base tables in DuckDB (filled from MongoDB by the refresh).

Timestamps are TIMESTAMPTZ: an instant is stored unambiguously whatever offset it arrived with,
and calendar days are always taken in UTC (`timezone('UTC', ts)`), never in the session's zone.
Amounts are integer paise, as in MongoDB.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import duckdb

CUSTOMERS_DDL = """
CREATE TABLE IF NOT EXISTS customers (
    customer_id VARCHAR PRIMARY KEY,
    name VARCHAR,
    email VARCHAR,
    phone VARCHAR,
    city VARCHAR,
    gender VARCHAR,
    age INTEGER,
    signup_date TIMESTAMPTZ,
    tags VARCHAR[],
    consent_email VARCHAR,      -- yes | no | unknown (NULL: unknown)
    consent_sms VARCHAR,
    consent_whatsapp VARCHAR,
    created_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ,
    attributes VARCHAR          -- custom attributes: a JSON object, key -> value (attributes.py)
)"""

ORDERS_DDL = """
CREATE TABLE IF NOT EXISTS orders (
    order_id VARCHAR PRIMARY KEY,
    customer_id VARCHAR NOT NULL,
    amount BIGINT NOT NULL,          -- paise
    status VARCHAR NOT NULL,         -- completed | cancelled | refunded
    order_date TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ
)"""


def use_utc(con: duckdb.DuckDBPyConnection) -> None:
    """Read timestamps without an offset as UTC (DuckDB's default is the machine's zone)."""
    con.execute("SET TimeZone = 'UTC'")


def create_base_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create `customers` and `orders` if missing; set the connection to UTC."""
    use_utc(con)
    con.execute(CUSTOMERS_DDL)
    con.execute(ORDERS_DDL)


def insert_records(con: duckdb.DuckDBPyConnection, table: str, records: list[dict[str, Any]]) -> None:
    """Insert dicts into `customers` or `orders`; keys missing from a record are NULL."""
    if table not in ("customers", "orders"):
        raise ValueError(f"not a base table: {table}")
    columns = [
        row[0]
        for row in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position", [table]
        ).fetchall()
    ]
    if records:
        marks = ", ".join("?" for _ in columns)
        con.executemany(
            f"INSERT INTO {table} VALUES ({marks})", [[_cell(record, c) for c in columns] for record in records]
        )


def _cell(record: dict[str, Any], column: str) -> Any:
    value = record.get(column)
    if column == "attributes" and isinstance(value, dict):  # JSON text, times in UTC as the copy writes them
        return json.dumps(value, default=_utc_text)
    return value


def _utc_text(value: Any) -> str:
    if isinstance(value, datetime):
        return (value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value).isoformat(sep=" ")
    return value.isoformat() if isinstance(value, date) else str(value)
