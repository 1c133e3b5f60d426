"""Put Arrow tables read from MongoDB into the DuckDB copy: whole, or as idempotent upserts."""

from __future__ import annotations

import duckdb
import pyarrow as pa

CUSTOMER_COLUMNS = (
    "customer_id, name, email, phone, city, gender, age, signup_date, tags, "
    "consent_email, consent_sms, consent_whatsapp, created_at, updated_at, attributes"
)
# Tags are a list and never missing; the consent sub-document becomes three status columns,
# missing consent being unknown (never yes).
CUSTOMER_SELECT = (
    "SELECT customer_id, name, email, phone, city, gender, CAST(age AS INTEGER), "
    "signup_date, coalesce(tags, []::VARCHAR[]), coalesce(consent.email.status, 'unknown'), "
    "coalesce(consent.sms.status, 'unknown'), coalesce(consent.whatsapp.status, 'unknown'), "
    "created_at, updated_at, {attributes} FROM {src}"
)


def _customer_select(src: str, customers: pa.Table) -> str:
    """CUSTOMER_SELECT over `src`: custom attributes as JSON text when the workspace has any."""
    attributes = "to_json(attributes)" if "attributes" in customers.column_names else "CAST(NULL AS VARCHAR)"
    return CUSTOMER_SELECT.format(src=src, attributes=attributes)


ORDER_COLUMNS = "order_id, customer_id, amount, status, order_date, created_at, updated_at"
ORDER_SELECT = f"SELECT {ORDER_COLUMNS} FROM {{src}}"


def load_all(con: duckdb.DuckDBPyConnection, customers: pa.Table, orders: pa.Table) -> None:
    """Fill empty tables and build every customer's features."""
    from crm.segment_engine import build_features

    with _registered(con, customers=customers, orders=orders):
        con.execute(f"INSERT INTO customers ({CUSTOMER_COLUMNS}) " + _customer_select("_in_customers", customers))
        # Orders sorted by date: zone maps then let a `within_days` window skip old row groups.
        con.execute(
            f"INSERT INTO orders ({ORDER_COLUMNS}) " + ORDER_SELECT.format(src="_in_orders") + " ORDER BY order_date"
        )
    build_features(con)


def apply_changes(con: duckdb.DuckDBPyConnection, customers: pa.Table, orders: pa.Table) -> int:
    """Upsert changed rows (re-reads of unchanged rows are skipped); returns the rows applied.

    Base rows and features change in one transaction. Features are rebuilt only for the
    customers touched by a change (changed customers, both customers of a changed order); orders
    never seen before are added to their customers' totals without reading older orders.
    """
    from crm.segment_engine import build_features
    from crm.segment_engine.features import add_new_orders

    if customers.num_rows == 0 and orders.num_rows == 0:
        return 0
    with _registered(con, customers=customers, orders=orders):
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _changed_customers AS "
            + _customer_select("_in_customers i", customers)
            + " WHERE NOT EXISTS (SELECT 1 FROM customers c "
            "WHERE c.customer_id = i.customer_id AND c.updated_at = i.updated_at)"
        )
        # previous_customer_id: the order's customer before this change (NULL: a new order).
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _changed_orders AS "
            f"SELECT {', '.join('i.' + c for c in ORDER_COLUMNS.split(', '))}, "
            "o.customer_id AS previous_customer_id, o.order_id IS NOT NULL AS existed "
            "FROM _in_orders i LEFT JOIN orders o ON o.order_id = i.order_id "
            "WHERE NOT coalesce(o.updated_at = i.updated_at, false)"
        )
    try:
        changed_customers, changed_orders, updated_orders = con.execute(
            "SELECT (SELECT count(*) FROM _changed_customers), (SELECT count(*) FROM _changed_orders), "
            "(SELECT count(*) FROM _changed_orders WHERE existed)"
        ).fetchall()[0]
        if not changed_customers + changed_orders:
            return 0
        # Rebuilt whole: changed customers and both customers of an order that changed.
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _rebuilt AS "
            "SELECT customer_id FROM _changed_customers UNION "
            "SELECT customer_id FROM _changed_orders WHERE existed UNION "
            "SELECT previous_customer_id FROM _changed_orders WHERE existed"
        )
        rebuilt = [row[0] for row in con.execute("SELECT customer_id FROM _rebuilt").fetchall()]
        con.begin()
        try:
            if changed_customers:
                con.execute("DELETE FROM customers WHERE customer_id IN (SELECT customer_id FROM _changed_customers)")
                con.execute(f"INSERT INTO customers ({CUSTOMER_COLUMNS}) SELECT * FROM _changed_customers")
            if updated_orders:
                con.execute("DELETE FROM orders WHERE order_id IN (SELECT order_id FROM _changed_orders WHERE existed)")
            con.execute(
                f"INSERT INTO orders ({ORDER_COLUMNS}) SELECT {ORDER_COLUMNS} FROM _changed_orders ORDER BY order_date"
            )
            build_features(con, rebuilt)
            add_new_orders(con, "(SELECT * FROM _changed_orders WHERE NOT existed)", "_rebuilt")
            con.commit()
        except BaseException:
            con.rollback()
            raise
        return changed_customers + changed_orders
    finally:
        for table in ("_changed_customers", "_changed_orders", "_rebuilt"):
            con.execute(f"DROP TABLE IF EXISTS {table}")


def drop_erased(con: duckdb.DuckDBPyConnection, erasures: list[dict]) -> int:
    """Remove erased customers and their orders and features; returns the customer rows removed.

    Only rows written before the erasure go: a customer imported again since keeps the new row.
    """
    from crm.segment_engine import build_features

    if not erasures:
        return 0
    ids = [e["customer_id"] for e in erasures]
    erased = pa.table({"customer_id": ids, "erased_at": [e["erased_at"] for e in erasures]})
    con.register("_erased", erased)
    try:
        con.begin()
        try:
            removed = con.execute(
                "DELETE FROM customers AS c USING _erased AS e WHERE c.customer_id = e.customer_id "
                "AND c.updated_at <= e.erased_at"
            ).fetchall()[0][0]
            removed_orders = con.execute(
                "DELETE FROM orders AS o USING _erased AS e "
                "WHERE o.customer_id = e.customer_id AND o.updated_at <= e.erased_at"
            ).fetchall()[0][0]
            if removed or removed_orders:
                build_features(con, ids)  # ids no longer in `customers` lose their rows
            con.commit()
        except BaseException:
            con.rollback()
            raise
    finally:
        con.unregister("_erased")
    return removed


def drop_unloadable(con: duckdb.DuckDBPyConnection, customer_ids: list[str], order_ids: list[str]) -> int:
    """Remove rows whose MongoDB document became one the copy cannot load (it would otherwise
    keep counting the old value); returns the rows removed. Features of the customers concerned
    are rebuilt."""
    from crm.segment_engine import build_features

    if not customer_ids and not order_ids:
        return 0
    con.begin()
    try:
        touched = [
            row[0]
            for row in con.execute(
                "SELECT customer_id FROM orders WHERE order_id IN (SELECT unnest(CAST(? AS VARCHAR[])))", [order_ids]
            ).fetchall()
        ]
        removed = con.execute(
            "DELETE FROM orders WHERE order_id IN (SELECT unnest(CAST(? AS VARCHAR[])))", [order_ids]
        ).fetchall()[0][0]
        removed += con.execute(
            "DELETE FROM customers WHERE customer_id IN (SELECT unnest(CAST(? AS VARCHAR[])))", [customer_ids]
        ).fetchall()[0][0]
        if removed:
            build_features(con, [*customer_ids, *touched])
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return removed


class _registered:
    """Registers Arrow tables as `_in_<name>` views for the duration of a block."""

    def __init__(self, con: duckdb.DuckDBPyConnection, **tables: pa.Table):
        self.con, self.tables = con, tables

    def __enter__(self):
        for name, table in self.tables.items():
            self.con.register(f"_in_{name}", table)

    def __exit__(self, *exc):
        for name in self.tables:
            self.con.unregister(f"_in_{name}")
