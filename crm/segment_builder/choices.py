"""Values the builder offers for text and tag fields, read from the data (cities, tags, genders).

Only fields with few distinct values get a list: a handful of cities is a choice, a million
emails is not. Which fields those are is decided by the data, not by a list written here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import duckdb

from crm.segment_engine.attributes import Attribute
from crm.segment_engine.catalogue import FIELDS, customer_column
from crm.segment_engine.text_keys import text_key_sql

MAX_OFFERED = 200  # more distinct values than this: the field is typed, not picked


def value_choices(cur: duckdb.DuckDBPyConnection, attributes: Sequence[Attribute] = ()) -> dict[str, list[str]]:
    """field name -> its values in the data, most common first (one spelling per value); text
    and list `attributes` of the workspace too."""
    sources = {
        name: f"unnest(f.{column})" if field.type == "list" else f"f.{column}"
        for name, field in FIELDS.items()
        if field.type in ("string", "list") and (column := customer_column(field))
    }
    for attribute in attributes:  # keys match KEY_PATTERN: safe as JSON paths in SQL text
        if attribute.kind == "text":
            sources[attribute.name] = f"json_extract_string(f.attributes, '$.{attribute.key}')"
        elif attribute.kind == "list":
            sources[attribute.name] = f"unnest(json_extract_string(f.attributes, '$.{attribute.key}[*]'))"
    choices = {}
    for name, values in sources.items():  # SQL from the catalogue and the registry, never from input
        key = text_key_sql("v")
        rows = cur.execute(
            f"SELECT any_value(trim(v)) AS shown, count(*) AS n "
            f"FROM (SELECT {values} AS v FROM customer_features AS f) WHERE {key} IS NOT NULL "
            f"GROUP BY {key} ORDER BY n DESC, {key} LIMIT ?",
            [MAX_OFFERED + 1],
        ).fetchall()
        if 0 < len(rows) <= MAX_OFFERED:
            choices[name] = [shown for shown, _ in rows]
    return choices


def with_rule_values(choices: Mapping[str, list[str]], rule: dict | None) -> dict[str, list[str]]:
    """`choices` plus the values a rule already uses for offered fields, so a saved rule shows
    its own values even when the data no longer has them."""
    merged = {name: list(values) for name, values in choices.items()}

    def visit(node: dict) -> None:
        for item in node.get("rules", []):
            if "rules" in item:
                visit(item)
            elif item.get("field") in merged:
                value = item.get("value")
                for v in value if isinstance(value, list) else [value]:
                    known = {x.strip().lower() for x in merged[item["field"]]}
                    if isinstance(v, str) and v.strip().lower() not in known:
                        merged[item["field"]].append(v)

    if rule:
        visit(rule)
    return merged
