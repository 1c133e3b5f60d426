"""The per-customer feature table `customer_features` that segment rules run against.

One row per customer: every `customers` column, a comparison key per text field (trimmed,
lower-cased, NULL when missing), UTC calendar days beside timestamps, and aggregates over
completed orders. Nothing here depends on "today": rules add that when they are compiled.

Beside it, for `within_days` windows: `customer_keys` gives each customer a dense integer
(`customer_idx`, never reused), and `completed_orders` holds only what a window aggregates
(customer_idx, UTC day, amount) of completed orders, sorted by day. A window then scans a few
narrow row groups and groups and joins on integers rather than on customer id strings, which
halves the cost of a windowed preview at a million customers. City and gender also get integer
codes (`codes.py`).
"""

from __future__ import annotations

import duckdb

from crm.segment_engine.catalogue import FIELDS, customer_column
from crm.segment_engine.codes import CODES, CODES_COLUMNS, add_codes, build_codes, code_columns_sql
from crm.segment_engine.schema import use_utc
from crm.segment_engine.text_keys import text_key_sql

TABLE = "customer_features"
KEYS = "customer_keys"
COMPLETED_ORDERS = "completed_orders"
COMPLETED = "completed"
# Integers standing for a customer or a text key: equal data refreshed or rebuilt may number
# them differently, so comparisons of feature tables leave them out.
SURROGATE_COLUMNS = ("customer_idx", *(f.code_column for f in FIELDS.values() if f.coded))
# Total-spend bands in rupees for histograms: fixed, so charts of different segments compare.
# Each customer's band is stored (spend_band = i: SPEND_BAND_EDGES_RUPEES[i] <= spend < the
# next edge), so a preview reads it instead of classifying every customer again.
SPEND_BAND_EDGES_RUPEES = (0, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000)


def _spend_band(paise: str) -> str:
    edges = SPEND_BAND_EDGES_RUPEES[1:]
    cases = " ".join(f"WHEN {paise} < {e * 100} THEN {i}" for i, e in enumerate(edges))
    return f"CAST(CASE {cases} ELSE {len(edges)} END AS UTINYINT)"


def _utc_day(expr: str) -> str:
    return f"CAST(timezone('UTC', {expr}) AS DATE)"


def _customer_keys() -> list[str]:
    """Comparison columns for the customer fields of the catalogue, one per field."""
    keys = []
    for field in FIELDS.values():
        column = customer_column(field)
        if column is None:
            continue
        source = f"c.{column}"
        if field.type == "string":
            keys.append(f"{text_key_sql(source)} AS {field.column}")
        elif field.type == "date":
            keys.append(f"{_utc_day(source)} AS {field.column}")
        elif field.type == "list":
            key = text_key_sql("t")
            keys.append(
                f"coalesce(list_distinct(list_filter(list_transform({source}, lambda t: {key}),"
                f" lambda k: k IS NOT NULL)), []) AS {field.column}"
            )
        elif field.column != column:
            keys.append(f"{source} AS {field.column}")
    return keys


def _select_sql(only_given: bool) -> str:
    only_orders = "AND customer_id IN (SELECT unnest(CAST(? AS VARCHAR[])))" if only_given else ""
    only_customers = "WHERE c.customer_id IN (SELECT unnest(CAST(? AS VARCHAR[])))" if only_given else ""
    return f"""
WITH completed AS (
    SELECT customer_id,
           -- HUGEINT: a customer's total of int64 paise can pass the int64 limit
           CAST(sum(amount) AS HUGEINT) AS total_spend_paise,
           count(*) AS order_count,
           min(order_date) AS first_order_date,
           max(order_date) AS last_order_date
    FROM orders
    WHERE status = '{COMPLETED}' {only_orders}
    GROUP BY customer_id)
SELECT c.*,
       k.customer_idx,
       {", ".join(_customer_keys())},
       {", ".join(code_columns_sql("c"))},
       coalesce(o.total_spend_paise, 0) AS total_spend_paise,
       coalesce(o.order_count, 0) AS order_count,
       {_spend_band("coalesce(o.total_spend_paise, 0)")} AS spend_band,
       o.total_spend_paise / o.order_count AS avg_order_value_paise,  -- for display only
       o.first_order_date,
       o.last_order_date,
       {_utc_day("o.first_order_date")} AS first_order_day,
       {_utc_day("o.last_order_date")} AS last_order_day
FROM customers AS c LEFT JOIN completed AS o ON o.customer_id = c.customer_id
JOIN {KEYS} AS k ON k.customer_id = c.customer_id
{only_customers}
ORDER BY c.customer_id"""


def build_features(con: duckdb.DuckDBPyConnection, customer_ids: list[str] | None = None) -> None:
    """(Re)build `customer_features` and the window tables: all of it, or only the rows of
    `customer_ids`.

    For an incremental refresh pass every customer whose attributes or orders changed (when an
    order moves to another customer, both). Ids no longer in `customers` lose their row. The
    incremental form opens no transaction of its own: run it inside the caller's, with the
    writes to the base tables, so readers never see new orders beside old features.
    """
    use_utc(con)
    if customer_ids is None:
        con.execute(
            f"CREATE OR REPLACE TABLE {KEYS} AS SELECT customer_id, "
            "CAST(row_number() OVER (ORDER BY customer_id) AS INTEGER) AS customer_idx FROM customers"
        )
        build_codes(con)
        con.execute(f"CREATE OR REPLACE TABLE {TABLE} AS {_select_sql(False)}")
        con.execute(f"CREATE OR REPLACE TABLE {COMPLETED_ORDERS} AS {_completed_orders_sql('orders')} ORDER BY day")
        return
    ids = list(dict.fromkeys(customer_ids))
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary "
        "AND database_name = current_database()",
        [TABLE],
    ).fetchall()[0][0]
    if not exists:  # planning the whole feature query costs milliseconds: only when needed
        con.execute(f"CREATE TABLE IF NOT EXISTS {KEYS} (customer_id VARCHAR, customer_idx INTEGER)")
        con.execute(f"CREATE TABLE IF NOT EXISTS {CODES} ({CODES_COLUMNS})")
        con.execute(f"CREATE TABLE {TABLE} AS {_select_sql(False)} LIMIT 0")
        con.execute(f"CREATE TABLE IF NOT EXISTS {COMPLETED_ORDERS} (customer_idx INTEGER, day DATE, amount BIGINT)")
    if not ids:
        return
    given = "(SELECT unnest(CAST(? AS VARCHAR[])))"
    # New customers get the next integers; a customer keeps its key for good.
    con.execute(
        f"INSERT INTO {KEYS} SELECT customer_id, CAST((SELECT coalesce(max(customer_idx), 0) "
        f"FROM {KEYS}) + row_number() OVER (ORDER BY customer_id) AS INTEGER) "
        f"FROM customers AS c WHERE customer_id IN {given} "
        f"AND NOT EXISTS (SELECT 1 FROM {KEYS} AS k WHERE k.customer_id = c.customer_id)",
        [ids],
    )
    add_codes(con, ids)
    con.execute(f"DELETE FROM {TABLE} WHERE customer_id IN {given}", [ids])
    con.execute(f"INSERT INTO {TABLE} BY NAME {_select_sql(True)}", [ids, ids])
    con.execute(
        f"DELETE FROM {COMPLETED_ORDERS} WHERE customer_idx IN "
        f"(SELECT customer_idx FROM {KEYS} WHERE customer_id IN {given})",
        [ids],
    )
    con.execute(
        f"INSERT INTO {COMPLETED_ORDERS} {_completed_orders_sql('orders')} "
        f"AND o.customer_id IN (SELECT customer_id FROM customers WHERE customer_id IN {given}) "
        "ORDER BY day",
        [ids],
    )


def _completed_orders_sql(orders: str) -> str:
    """Rows of `completed_orders` for the completed orders of known customers in `orders`
    (trusted SQL: a table name or a parenthesised query); ends in a WHERE callers may extend."""
    return (
        f"SELECT k.customer_idx, {_utc_day('o.order_date')} AS day, CAST(o.amount AS BIGINT) AS amount "
        f"FROM {orders} AS o JOIN {KEYS} AS k ON k.customer_id = o.customer_id "
        f"WHERE o.status = '{COMPLETED}'"
    )


def add_new_orders(con: duckdb.DuckDBPyConnection, new_orders: str, skip_ids: str) -> None:
    """Add orders never seen before to the aggregates of their customers, without reading the
    customers' other orders: sums and counts add up, first/last dates are the min/max of old and
    new, so the rows equal a rebuild. `new_orders` and `skip_ids` (customer ids whose rows are
    rebuilt instead) are trusted SQL of the caller: a table name or a parenthesised query.
    Runs in the caller's transaction."""
    use_utc(con)
    con.execute(
        f"INSERT INTO {COMPLETED_ORDERS} {_completed_orders_sql(new_orders)} "
        f"AND NOT EXISTS (SELECT 1 FROM {skip_ids} AS s WHERE s.customer_id = o.customer_id) "
        f"AND EXISTS (SELECT 1 FROM {TABLE} AS f WHERE f.customer_id = o.customer_id) ORDER BY day"
    )
    first = "CASE WHEN f.first_order_date <= d.first_order_date THEN f.first_order_date ELSE d.first_order_date END"
    last = "CASE WHEN f.last_order_date >= d.last_order_date THEN f.last_order_date ELSE d.last_order_date END"
    con.execute(f"""
UPDATE {TABLE} AS f SET
    total_spend_paise = f.total_spend_paise + d.total_spend_paise,
    order_count = f.order_count + d.order_count,
    spend_band = {_spend_band("f.total_spend_paise + d.total_spend_paise")},
    avg_order_value_paise = CAST(f.total_spend_paise + d.total_spend_paise AS HUGEINT)
                            / (f.order_count + d.order_count),
    first_order_date = {first},
    last_order_date = {last},
    first_order_day = {_utc_day(first)},
    last_order_day = {_utc_day(last)}
FROM (SELECT customer_id, CAST(sum(amount) AS HUGEINT) AS total_spend_paise, count(*) AS order_count,
             min(order_date) AS first_order_date, max(order_date) AS last_order_date
      FROM {new_orders} AS n
      WHERE n.status = '{COMPLETED}'
        AND NOT EXISTS (SELECT 1 FROM {skip_ids} AS s WHERE s.customer_id = n.customer_id)
      GROUP BY customer_id) AS d
WHERE f.customer_id = d.customer_id""")
