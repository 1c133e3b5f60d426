"""The per-customer feature table `customer_features` that segment rules run against.

One row per customer: every `customers` column, a comparison key per text field (trimmed,
lower-cased, NULL when missing), UTC calendar days beside timestamps, and aggregates over
completed orders. Nothing here depends on "today": rules add that when they are compiled.
"""

from __future__ import annotations

import duckdb

from crm.segment_engine.catalogue import FIELDS, customer_column
from crm.segment_engine.schema import use_utc
from crm.segment_engine.text_keys import text_key_sql

TABLE = "customer_features"
COMPLETED = "completed"
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
            keys.append(f"coalesce(list_distinct(list_filter(list_transform({source}, lambda t: {key}),"
                        f" lambda k: k IS NOT NULL)), []) AS {field.column}")
        elif field.column != column:
            keys.append(f"{source} AS {field.column}")
    return keys


def _select_sql(only_given: bool) -> str:
    only_orders = "AND customer_id IN (SELECT unnest(CAST(? AS VARCHAR[])))" if only_given else ""
    only_customers = "WHERE c.customer_id IN (SELECT unnest(CAST(? AS VARCHAR[])))" if only_given else ""
    return f"""
WITH completed AS (
    SELECT customer_id,
           CAST(sum(amount) AS BIGINT) AS total_spend_paise,
           count(*) AS order_count,
           min(order_date) AS first_order_date,
           max(order_date) AS last_order_date
    FROM orders
    WHERE status = '{COMPLETED}' {only_orders}
    GROUP BY customer_id)
SELECT c.*,
       {', '.join(_customer_keys())},
       coalesce(o.total_spend_paise, 0) AS total_spend_paise,
       coalesce(o.order_count, 0) AS order_count,
       {_spend_band('coalesce(o.total_spend_paise, 0)')} AS spend_band,
       o.total_spend_paise / o.order_count AS avg_order_value_paise,  -- for display only
       o.first_order_date,
       o.last_order_date,
       {_utc_day('o.first_order_date')} AS first_order_day,
       {_utc_day('o.last_order_date')} AS last_order_day
FROM customers AS c LEFT JOIN completed AS o ON o.customer_id = c.customer_id
{only_customers}
ORDER BY c.customer_id"""


def build_features(con: duckdb.DuckDBPyConnection, customer_ids: list[str] | None = None) -> None:
    """(Re)build `customer_features`: all of it, or only the rows of `customer_ids`.

    For an incremental refresh pass every customer whose attributes or orders changed (when an
    order moves to another customer, both). Ids no longer in `customers` lose their row. The
    incremental form opens no transaction of its own: run it inside the caller's, with the
    writes to the base tables, so readers never see new orders beside old features.
    """
    use_utc(con)
    if customer_ids is None:
        con.execute(f"CREATE OR REPLACE TABLE {TABLE} AS {_select_sql(False)}")
        return
    ids = list(dict.fromkeys(customer_ids))
    exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary "
                         "AND database_name = current_database()",
                         [TABLE]).fetchall()[0][0]
    if not exists:  # planning the whole feature query costs milliseconds: only when needed
        con.execute(f"CREATE TABLE {TABLE} AS {_select_sql(False)} LIMIT 0")
    if not ids:
        return
    con.execute(f"DELETE FROM {TABLE} WHERE customer_id IN "
                "(SELECT unnest(CAST(? AS VARCHAR[])))", [ids])
    con.execute(f"INSERT INTO {TABLE} BY NAME {_select_sql(True)}", [ids, ids])


def add_new_orders(con: duckdb.DuckDBPyConnection, new_orders: str, skip_ids: str) -> None:
    """Add orders never seen before to the aggregates of their customers, without reading the
    customers' other orders: sums and counts add up, first/last dates are the min/max of old and
    new, so the rows equal a rebuild. `new_orders` and `skip_ids` (customer ids whose rows are
    rebuilt instead) are trusted SQL of the caller: a table name or a parenthesised query.
    Runs in the caller's transaction."""
    use_utc(con)
    first = ("CASE WHEN f.first_order_date <= d.first_order_date THEN f.first_order_date "
             "ELSE d.first_order_date END")
    last = ("CASE WHEN f.last_order_date >= d.last_order_date THEN f.last_order_date "
            "ELSE d.last_order_date END")
    con.execute(f"""
UPDATE {TABLE} AS f SET
    total_spend_paise = f.total_spend_paise + d.total_spend_paise,
    order_count = f.order_count + d.order_count,
    spend_band = {_spend_band('f.total_spend_paise + d.total_spend_paise')},
    avg_order_value_paise = CAST(f.total_spend_paise + d.total_spend_paise AS BIGINT)
                            / (f.order_count + d.order_count),
    first_order_date = {first},
    last_order_date = {last},
    first_order_day = {_utc_day(first)},
    last_order_day = {_utc_day(last)}
FROM (SELECT customer_id, CAST(sum(amount) AS BIGINT) AS total_spend_paise, count(*) AS order_count,
             min(order_date) AS first_order_date, max(order_date) AS last_order_date
      FROM {new_orders} AS n
      WHERE n.status = '{COMPLETED}'
        AND NOT EXISTS (SELECT 1 FROM {skip_ids} AS s WHERE s.customer_id = n.customer_id)
      GROUP BY customer_id) AS d
WHERE f.customer_id = d.customer_id""")
