"""Which campaign members converted, and what they spent, from the analytic copy's orders.

A conversion is a completed order of a member placed after the member's start and at most
`window_days` after it (an order exactly at the window's end counts). A messaged member starts
when their message was sent; a holdout member, and a messaged one whose message never went out
(refused by the vendor, not rendered), when the campaign started sending: everyone assigned to
the messaged group stays in it (intention to treat), so the comparison with the holdout stays
a comparison of two random halves. Revenue sums every attributed order; a customer converts
once. An order cancelled or refunded later no longer counts, and orders arriving later (API,
import) count as soon as the copy has them: results are computed when asked, never stored.

A customer in two campaigns' windows counts for both: each campaign is measured against its
own holdout, drawn from the same audience, so the other campaign's messages fall on both its
groups alike and do not bias its lift.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

MESSAGED, HOLDOUT = "messaged", "holdout"
MEMBER_SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("grp", pa.string()),  # messaged | holdout
        ("variant", pa.int64()),  # 0-based template index
        ("start", pa.timestamp("ms", tz="UTC")),
    ]
)


@dataclass(frozen=True)
class Outcomes:
    """Per member, in one order: group, variant, orders, revenue (paise) and the days from start to
    the first attributed order (NaN without one)."""

    group: np.ndarray
    variant: np.ndarray
    orders: np.ndarray
    revenue_paise: np.ndarray
    days_to_first: np.ndarray

    @property
    def converted(self) -> np.ndarray:
        return self.orders > 0


def attribute(cur: duckdb.DuckDBPyConnection, members: pa.Table, window_days: int) -> Outcomes:
    """Join the members (MEMBER_SCHEMA) with the completed orders of `cur`'s `orders` table."""
    cur.register("_members", members)
    try:
        table = cur.sql(
            """
            SELECT m.grp, m.variant,
                   count(o.order_id) AS orders,
                   CAST(coalesce(sum(o.amount), 0) AS BIGINT) AS revenue,
                   date_diff('second', m.start, min(o.order_date)) / 86400.0 AS days_to_first
            FROM _members AS m
            LEFT JOIN orders AS o
              ON o.customer_id = m.customer_id AND o.status = 'completed'
             AND o.order_date > m.start AND o.order_date <= m.start + to_days(CAST(? AS INTEGER))
            GROUP BY m.customer_id, m.grp, m.variant, m.start
            """,
            params=[window_days],
        ).to_arrow_table()
    finally:
        cur.unregister("_members")
    return Outcomes(
        group=table["grp"].to_numpy(zero_copy_only=False),
        variant=table["variant"].to_numpy(),
        orders=table["orders"].to_numpy(),
        revenue_paise=table["revenue"].to_numpy(),
        days_to_first=table["days_to_first"].to_numpy(zero_copy_only=False).astype(float),
    )
