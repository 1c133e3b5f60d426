"""Integer codes for the text keys of few-valued fields (city, gender).

On a million customers DuckDB compares integers about twice as fast as strings, and a city test
is in most rules. So the features hold `<field>_code` beside `<field>_key`, taken from one
append-only dictionary `text_codes` (key -> code; a key keeps its code for good, codes start at
1). Rules name values, not codes: `resolve_codes` looks a rule's values up once per query; a
value no customer has gets UNKNOWN, which no row holds, so the answer stays exact. Each key also
keeps a label (its text as first stored) for display: grouping by code and reading five labels
is six times cheaper than grouping strings.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import duckdb

from crm.segment_engine.catalogue import FIELDS, customer_column
from crm.segment_engine.model import Condition, Group, typed_value
from crm.segment_engine.text_keys import text_key_sql

CODES = "text_codes"
CODES_COLUMNS = "key VARCHAR, code INTEGER, label VARCHAR"
UNKNOWN = 0
# Operators whose string SQL is an equality test: an equal key is an equal code.
CODED_OPERATORS = frozenset({"=", "!=", "in", "not_in"})


def _keys_and_labels(row: str) -> str:
    """SQL columns `key`, `label`: one row per coded field of each `customers` row aliased `row`."""
    fields = [f for f in FIELDS.values() if f.coded]
    keys = ", ".join(text_key_sql(f"{row}.{customer_column(f)}") for f in fields)
    labels = ", ".join(f"{row}.{customer_column(f)}" for f in fields)
    return f"unnest([{keys}]) AS key, unnest([{labels}]) AS label"


def code_columns_sql(row: str = "c") -> list[str]:
    """Feature columns `<field>_code` for a `customers` row aliased `row` (NULL when missing)."""
    return [
        f"(SELECT t.code FROM {CODES} AS t WHERE t.key = {text_key_sql(f'{row}.{customer_column(f)}')})"
        f" AS {f.code_column}"
        for f in FIELDS.values()
        if f.coded
    ]


def build_codes(con: duckdb.DuckDBPyConnection) -> None:
    """The dictionary of every key of every customer, numbered from 1 in key order."""
    con.execute(
        f"CREATE OR REPLACE TABLE {CODES} AS SELECT key, CAST(row_number() OVER (ORDER BY key) "
        f"AS INTEGER) AS code, label FROM (SELECT key, min(label) AS label FROM (SELECT "
        f"{_keys_and_labels('c')} FROM customers AS c) WHERE key IS NOT NULL GROUP BY key)"
    )


def add_codes(con: duckdb.DuckDBPyConnection, customer_ids: list[str]) -> None:
    """Number the keys of these customers that the dictionary does not hold yet."""
    con.execute(f"CREATE TABLE IF NOT EXISTS {CODES} ({CODES_COLUMNS})")
    con.execute(
        f"INSERT INTO {CODES} SELECT key, CAST((SELECT coalesce(max(code), 0) FROM {CODES}) "
        "+ row_number() OVER (ORDER BY key) AS INTEGER), label FROM "
        f"(SELECT key, min(label) AS label FROM (SELECT {_keys_and_labels('c')} FROM customers AS c "
        "WHERE c.customer_id IN (SELECT unnest(CAST(? AS VARCHAR[])))) GROUP BY key) AS n "
        f"WHERE key IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {CODES} AS t WHERE t.key = n.key)",
        [customer_ids],
    )


def codable(condition: Condition) -> bool:
    return condition.spec.coded and condition.operator in CODED_OPERATORS and condition.within_days is None


def condition_values(condition: Condition) -> tuple[Any, ...]:
    typed = typed_value(condition)
    return typed if isinstance(typed, tuple) else (typed,)


def _coded_values(rule: Group | Condition) -> Iterator[str]:
    if isinstance(rule, Group):
        for child in rule.rules:
            yield from _coded_values(child)
    elif codable(rule):
        yield from condition_values(rule)


def resolve_codes(con: duckdb.DuckDBPyConnection, group: Group) -> dict[str, int]:
    """Code of each value the rule compares a coded field with (UNKNOWN when no customer has
    it). A value with no key at all (blank) is left out: its condition keeps the string form."""
    values = list(dict.fromkeys(_coded_values(group)))
    if not values:
        return {}
    # Two tiny queries: a join of the values with the dictionary costs more to plan and run.
    keys = con.execute(
        f"SELECT list_transform(CAST(? AS VARCHAR[]), lambda v: {text_key_sql('v')})", [values]
    ).fetchall()[0][0]
    found = dict(
        con.execute(
            f"SELECT key, code FROM {CODES} WHERE list_contains(CAST(? AS VARCHAR[]), key)",
            [[k for k in keys if k is not None]],
        ).fetchall()
    )
    return {value: found.get(key, UNKNOWN) for value, key in zip(values, keys) if key is not None}


def labels(con: duckdb.DuckDBPyConnection, codes: list[int]) -> dict[int, str]:
    """The display text of each code."""
    return dict(
        con.execute(
            f"SELECT code, label FROM {CODES} WHERE list_contains(CAST(? AS INTEGER[]), code)", [codes]
        ).fetchall()
    )
