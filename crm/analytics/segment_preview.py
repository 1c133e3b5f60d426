"""Segment preview: audience size, waterfall, a sample and a summary, straight from DuckDB.

Three queries over `customer_features`: one scan groups every customer by which top-level
conditions hold and by spend bin (giving count, waterfall and histogram at once), one counts the
audience's cities, one reads the first `sample` matching customers; the last two run beside the
first on connections of their own unless the rule needs window tables. Results are cached by
(canonical rule, as-of date, data version), so an unchanged rule on unchanged data is free.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

import duckdb

from crm.analytics.audience_columns import select_list
from crm.segment_engine.catalogue import Catalogue
from crm.segment_engine.features import SPEND_BAND_EDGES_RUPEES
from crm.segment_engine.model import Group

# Spend histogram bin edges in rupees: the bands stored per customer with the features.
SPEND_EDGES_RUPEES = SPEND_BAND_EDGES_RUPEES
TOP_CITIES = 5
MAX_SAMPLE = 1_000
CACHE_SIZE = 256


@dataclass(frozen=True)
class WaterfallStep:
    label: str  # the condition in English
    remaining: int  # customers meeting this and every earlier top-level condition (group's op)
    alone: int  # customers meeting this condition by itself


@dataclass(frozen=True)
class SpendBin:
    low_rupees: int
    high_rupees: int | None  # None: open-ended last bin
    customers: int


@dataclass(frozen=True)
class Preview:
    count: int
    total_customers: int
    share: float  # count / total_customers (0 when there are no customers)
    as_of: date
    waterfall: list[WaterfallStep]
    sample: list[dict[str, Any]]
    spend_histogram: list[SpendBin]
    top_cities: list[tuple[str, int]]
    data_version: str
    combine: str = "and"  # how the waterfall steps combine: "and" or "or"
    negated: bool = False  # the top group is negated: count = total - last step's remaining
    extra: dict[str, Any] = field(default_factory=dict)


def today_utc() -> date:
    return datetime.now(UTC).date()


def canonical_rule(group) -> str:
    return json.dumps(group.to_json(), sort_keys=True, separators=(",", ":"))


def parse(rule: Any, fields: Catalogue | None = None) -> Group:
    """A parsed Group from a Group, a dict, or JSON text (re-validated: Groups can be built by
    hand), checked against `fields` (the copy's catalogue, with its custom attributes)."""
    from crm.segment_engine import parse_rule

    return parse_rule(rule, fields)


def audience_query(
    group, as_of: date, select: str, select_params: list | None = None, codes: dict[str, int] | None = None
) -> tuple[str, list]:
    """SELECT `select` (trusted SQL over f) for every customer the rule matches, and params
    (`codes`: from resolve_codes on the connection that runs it, for integer city tests)."""
    from crm.segment_engine import compile_rule

    compiled = compile_rule(group, as_of, codes)
    sql = f"SELECT {select} FROM {compiled.from_sql} WHERE ({compiled.where_sql})"
    return sql, [*(select_params or []), *compiled.from_params, *compiled.params]


def compute_preview(
    con: duckdb.DuckDBPyConnection, group, as_of: date, sample: int = 50, data_version: str = "", cities: bool = True
) -> Preview:
    """The preview of a parsed rule on a DuckDB connection holding the analytic tables.

    `cities=False` skips the one part that needs a query of its own (the top cities).
    """
    from crm.segment_engine import top_level_predicates
    from crm.segment_engine.codes import resolve_codes

    sample = max(0, min(int(sample), MAX_SAMPLE))
    cur = con.cursor()  # its own connection: the temporary window tables are private to it
    try:
        top = top_level_predicates(group, as_of, resolve_codes(cur, group))
        try:
            joins = _materialise_windows(cur, top.windows)
            return _preview(con, cur, group, top, joins, as_of, sample, data_version, cities)
        finally:
            for window in top.windows:
                cur.execute(f"DROP TABLE IF EXISTS {_window_table(window.alias)}")
    finally:
        cur.close()


def _window_table(alias: str) -> str:
    return f"_preview_{alias}"


def _materialise_windows(cur: duckdb.DuckDBPyConnection, windows) -> str:
    """Aggregate each `within_days` window once into a temporary table that every query of this
    preview joins (rather than aggregating the orders again in each of them)."""
    joins = []
    for window in windows:
        table = _window_table(window.alias)
        cur.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {window.select.sql}", list(window.select.params))
        joins.append(window.join(table).sql)
    return " ".join(joins)


def _preview(con, cur, group, top, joins: str, as_of: date, sample: int, data_version: str, cities: bool) -> Preview:
    from crm.segment_engine import describe_rule

    where = top.where()
    audience = f"FROM customer_features AS f {joins} WHERE ({where.sql})"
    side: dict[str, partial[Any]] = {}
    if cities:
        side["cities"] = partial(_top_cities, audience, list(where.params))
    if sample:
        side["sample"] = partial(_sample_rows, audience, list(where.params), as_of, sample)
    # The sample and the cities are mostly latency, not work: without window tables (private to
    # `cur`) they run on connections of their own while the grouped scan runs (DuckDB releases
    # the GIL), which takes a sixth off a preview at a million customers.
    pending = {} if top.windows else {name: _SIDE_QUERIES.submit(_on_own_cursor, con, fn) for name, fn in side.items()}
    n = len(top.predicates)
    # One scan: each row's top-level results become one pattern (bit i = condition i holds;
    # compiled conditions are never NULL), grouped with the stored spend band. Small CASE
    # integers let DuckDB use its perfect-hash aggregate (no hashing per row); Python then adds
    # up the few groups into the waterfall and the histogram.
    if n <= 62:
        pattern = " + ".join(
            f"CASE WHEN ({p.loose.sql}) THEN {1 << i} ELSE 0 END" for i, p in enumerate(top.predicates)
        )
    else:  # beyond what an integer holds: a text of 0s and 1s
        pattern = " || ".join(f"CASE WHEN ({p.loose.sql}) THEN '1' ELSE '0' END" for p in top.predicates)
    flag_params = [v for p in top.predicates for v in p.loose.params]
    query = (
        f"SELECT {pattern} AS pattern, f.spend_band AS bin, count(*) AS n "
        f"FROM customer_features AS f {joins} GROUP BY ALL"
    )
    groups = cur.execute(query, flag_params).fetchall()
    combine = all if top.op == "and" else any
    alone, running = [0] * n, [0] * n
    bin_counts = [0] * len(SPEND_EDGES_RUPEES)
    total = count = 0
    for bits, spend_bin_index, rows_in_group in groups:
        holds = _bits(bits, n)
        total += rows_in_group
        for i in range(n):
            alone[i] += rows_in_group if holds[i] else 0
            running[i] += rows_in_group if combine(holds[: i + 1]) else 0
        if combine(holds) != top.negate:
            count += rows_in_group
            bin_counts[spend_bin_index] += rows_in_group
    waterfall = [
        WaterfallStep(describe_rule(_single(top.op, rule, group.fields)), remaining=running[i], alone=alone[i])
        for i, rule in enumerate(group.rules)
    ]
    highs = list(SPEND_EDGES_RUPEES[1:]) + [None]
    histogram = [SpendBin(lo, hi, c) for lo, hi, c in zip(SPEND_EDGES_RUPEES, highs, bin_counts)]
    found = (
        {name: future.result() for name, future in pending.items()}
        if pending
        else {name: fn(cur) for name, fn in side.items() if count}
    )
    return Preview(
        count=count,
        total_customers=total,
        share=(count / total) if total else 0.0,
        as_of=as_of,
        waterfall=waterfall,
        sample=found.get("sample", []),
        spend_histogram=histogram,
        top_cities=found.get("cities", []),
        data_version=data_version,
        combine=top.op,
        negated=top.negate,
    )


_SIDE_QUERIES = ThreadPoolExecutor(max_workers=4, thread_name_prefix="preview")


def _on_own_cursor(con, query):
    cur = con.cursor()
    try:
        return query(cur)
    finally:
        cur.close()


def _top_cities(audience: str, params: list, cur) -> list[tuple[str, int]]:
    """The audience's largest cities (equal counts: the city first numbered first), each named
    as first stored; grouped by integer code, which is far cheaper than grouping the text."""
    from crm.segment_engine.codes import labels

    rows = cur.execute(
        f"SELECT f.city_code, count(*) AS n {audience} AND f.city_code IS NOT NULL "
        f"GROUP BY f.city_code ORDER BY n DESC, f.city_code LIMIT {TOP_CITIES}",
        params,
    ).fetchall()
    names = labels(cur, [code for code, _ in rows]) if rows else {}
    return [(names[code], n) for code, n in rows]


def _sample_rows(audience: str, params: list, as_of: date, sample: int, cur) -> list[dict[str, Any]]:
    select, select_params = select_list(None, as_of)
    result = cur.execute(f"SELECT {select} {audience} LIMIT {sample}", [*select_params, *params])
    names = [d[0] for d in result.description]
    return [dict(zip(names, values)) for values in result.fetchall()]


def _bits(pattern, n: int) -> list[bool]:
    if isinstance(pattern, str):
        return [ch == "1" for ch in pattern]
    return [bool(pattern >> i & 1) for i in range(n)]


def _single(op: str, rule, fields):
    """A top-level rule on its own, as a group the describer accepts."""
    from crm.segment_engine import parse_rule

    if hasattr(rule, "op"):
        return rule
    return parse_rule({"op": op, "rules": [rule.model_dump(exclude_none=True)]}, fields)


class _Cache:
    def __init__(self, size: int):
        self.size, self.lock = size, threading.Lock()
        self.items: OrderedDict[Any, Any] = OrderedDict()

    def get(self, key):
        with self.lock:
            value = self.items.get(key)
            if value is not None:
                self.items.move_to_end(key)
            return value

    def put(self, key, value) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.items.clear()


_cache = _Cache(CACHE_SIZE)


def preview(rule, as_of: date | None = None, sample: int = 50) -> Preview:
    """Preview a rule (Group, dict or JSON) on this process's analytic copy, fresh and cached."""
    from crm.analytics.analytic_copy import open_copy

    copy = open_copy()
    group = parse(rule, copy.catalogue)
    as_of = as_of or today_utc()
    version = copy.data_version
    key = (canonical_rule(group), as_of.isoformat(), version, sample)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    result = compute_preview(copy.cursor(), group, as_of, sample, data_version=version)
    _cache.put(key, result)
    return result


def count(rule, as_of: date | None = None) -> int:
    """The audience size alone (no cache: used by one-shot commands)."""
    from crm.analytics.analytic_copy import open_copy
    from crm.segment_engine.codes import resolve_codes

    copy = open_copy()
    group, cur = parse(rule, copy.catalogue), copy.cursor()
    sql, params = audience_query(group, as_of or today_utc(), "count(*)", codes=resolve_codes(cur, group))
    return cur.execute(sql, params).fetchall()[0][0]
