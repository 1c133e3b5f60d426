"""Put Arrow tables read from MongoDB into the DuckDB copy: whole, or as idempotent upserts."""

from __future__ import annotations

import duckdb
import pyarrow as pa

CUSTOMER_COLUMNS = ("customer_id, name, email, phone, city, gender, age, signup_date, tags, "
                    "consent_email, consent_sms, consent_whatsapp, created_at, updated_at")
# Tags are a list and never missing; the consent sub-document becomes three columns.
CUSTOMER_SELECT = ("SELECT customer_id, name, email, phone, city, gender, CAST(age AS INTEGER), "
                   "signup_date, coalesce(tags, []::VARCHAR[]), consent.email, consent.sms, "
                   "consent.whatsapp, created_at, updated_at FROM {src}")
ORDER_COLUMNS = "order_id, customer_id, amount, status, order_date, created_at, updated_at"
ORDER_SELECT = f"SELECT {ORDER_COLUMNS} FROM {{src}}"


def load_all(con: duckdb.DuckDBPyConnection, customers: pa.Table, orders: pa.Table) -> None:
    """Fill empty tables and build every customer's features."""
    from crm.segment_engine import build_features

    with _registered(con, customers=customers, orders=orders):
        con.execute(f"INSERT INTO customers ({CUSTOMER_COLUMNS}) "
                    + CUSTOMER_SELECT.format(src="_in_customers"))
        # Orders sorted by date: zone maps then let a `within_days` window skip old row groups.
        con.execute(f"INSERT INTO orders ({ORDER_COLUMNS}) "
                    + ORDER_SELECT.format(src="_in_orders") + " ORDER BY order_date")
    build_features(con)


def apply_changes(con: duckdb.DuckDBPyConnection, customers: pa.Table, orders: pa.Table) -> int:
    """Upsert changed rows (re-reads of unchanged rows are skipped); returns the rows applied.

    Features are rebuilt only for the customers touched: changed customers, customers of changed
    orders, and the previous customer of an order that moved.
    """
    from crm.segment_engine import build_features

    if customers.num_rows == 0 and orders.num_rows == 0:
        return 0
    with _registered(con, customers=customers, orders=orders):
        con.execute("CREATE OR REPLACE TEMP TABLE _changed_customers AS "
                    + CUSTOMER_SELECT.format(src="_in_customers i")
                    + " WHERE NOT EXISTS (SELECT 1 FROM customers c "
                      "WHERE c.customer_id = i.customer_id AND c.updated_at = i.updated_at)")
        con.execute("CREATE OR REPLACE TEMP TABLE _changed_orders AS "
                    + ORDER_SELECT.format(src="_in_orders i")
                    + " WHERE NOT EXISTS (SELECT 1 FROM orders o "
                      "WHERE o.order_id = i.order_id AND o.updated_at = i.updated_at)")
    try:
        applied = con.execute("SELECT (SELECT count(*) FROM _changed_customers) "
                              "+ (SELECT count(*) FROM _changed_orders)").fetchall()[0][0]
        if not applied:
            return 0
        touched = [row[0] for row in con.execute(
            "SELECT customer_id FROM _changed_customers UNION SELECT customer_id FROM _changed_orders "
            "UNION SELECT o.customer_id FROM orders o JOIN _changed_orders c USING (order_id)").fetchall()]
        con.begin()
        try:
            con.execute("DELETE FROM customers WHERE customer_id IN (SELECT customer_id FROM _changed_customers)")
            con.execute(f"INSERT INTO customers ({CUSTOMER_COLUMNS}) SELECT * FROM _changed_customers")
            con.execute("DELETE FROM orders WHERE order_id IN (SELECT order_id FROM _changed_orders)")
            con.execute(f"INSERT INTO orders ({ORDER_COLUMNS}) SELECT * FROM _changed_orders ORDER BY order_date")
            con.commit()
        except BaseException:
            con.rollback()
            raise
        # build_features runs its own transaction, so for a moment a reader may see new orders
        # beside old features; a later refresh (or rebuild) never leaves them apart.
        build_features(con, touched)
        return applied
    finally:
        con.execute("DROP TABLE IF EXISTS _changed_customers")
        con.execute("DROP TABLE IF EXISTS _changed_orders")


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
