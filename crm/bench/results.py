"""Time to compute a campaign's results (attribution + statistics) against plain pandas, in one run.

An in-memory analytic copy (`new_connection()`) gets an `orders` table generated with SQL
(range() and hash(): deterministic, no Python rows): background orders over a year for every
customer, most of whom are not in the campaign, plus planted orders of messaged members inside
their window, so the campaign has a true effect and its lift is a sanity figure. The members
(MEMBER_SCHEMA: 10% holdout, two variants, messages sent over the first hour) are built directly,
as `results.members()` would read them from the log.

"Ours" is `attribute()` + `compute_results()`: per member orders and revenue in the window, then
the figures per group and variant, the lift with its interval, incremental revenue and the
conversion curve. The baseline answers the figures alone (recipients, converters and revenue of
each group and variant) with pandas over frames already in memory: merge members with completed
orders, keep the window, group by member. Both must agree exactly or the benchmark fails.
Progress goes to stderr; the figures are one JSON line on stdout.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crm.campaigns.attribution import HOLDOUT, MEMBER_SCHEMA, MESSAGED, attribute
from crm.campaigns.model import COMPLETED, Campaign
from crm.campaigns.results import Results, compute_results

STARTED = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
HOLDOUT_PERCENT, WINDOW_DAYS, TEMPLATES = 10, 7, ["Hi {{ name }}", "Hello {{ name }}, 10% off"]
SEND_SECONDS = 3600  # messages go out over the campaign's first hour
PLANTED_SHARE = 0.01  # of all orders: completed orders of messaged members inside their window
AIM_SECONDS = 1.0
SEED = 7

# Background orders: a year around the send (300 days before, 65 after), any customer.
_BACKGROUND_SQL = """
SELECT printf('O%09d', j) AS order_id, printf('C%08d', hash(j, 1) % ?) AS customer_id,
       (100 * (50 + hash(j, 2) % 3000))::BIGINT AS amount,
       CASE WHEN hash(j, 3) % 100 < 90 THEN 'completed'
            WHEN hash(j, 3) % 100 < 97 THEN 'cancelled' ELSE 'refunded' END AS status,
       ?::TIMESTAMPTZ - INTERVAL 300 DAY + to_seconds((hash(j, 4) % (365 * 86400))::BIGINT) AS order_date
FROM range(?) t(j)
"""

# Planted orders: each picks a messaged member and lands in (start, start + window].
_PLANTED_SQL = """
SELECT printf('P%09d', j), m.customer_id, (100 * (50 + hash(j, 12) % 3000))::BIGINT, 'completed',
       m.start + to_seconds((1 + hash(j, 13) % (CAST(? AS BIGINT) * 86400))::BIGINT)
FROM range(?) t(j)
JOIN (SELECT customer_id, start, row_number() OVER (ORDER BY customer_id) - 1 AS k
      FROM bench_members WHERE grp = 'messaged') AS m ON m.k = hash(j, 11) % ?
"""


def add_arguments(parser) -> None:
    parser.add_argument("--recipients", type=int, default=100_000, help="campaign members (default 100000)")
    parser.add_argument("--orders", type=int, default=1_000_000, help="orders in the copy (default 1000000)")
    parser.add_argument(
        "--customers", type=int, default=200_000, help="customers the orders belong to (default 200000)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each way (default 5)")


def make_campaign() -> Campaign:
    return Campaign(
        id="bench-results",
        name="bench results",
        channel="sms",
        templates=TEMPLATES,
        rules={"op": "and", "rules": [{"field": "customer_id", "operator": "is_not_empty"}]},
        as_of=STARTED.date(),
        holdout_percent=HOLDOUT_PERCENT,
        window_days=WINDOW_DAYS,
        status=COMPLETED,
        created_at=STARTED - timedelta(hours=1),
        started_at=STARTED,
    )


def make_members(recipients: int, customers: int) -> pa.Table:
    """A random set of customers: the holdout starts when sending started, the messaged at their send."""
    rng = np.random.default_rng(SEED)
    chosen = np.sort(rng.choice(customers, size=recipients, replace=False))
    held = rng.random(recipients) < HOLDOUT_PERCENT / 100
    variant = np.where(held, 0, rng.integers(0, len(TEMPLATES), recipients))
    started_ms = int(STARTED.timestamp() * 1000)
    start = np.where(held, started_ms, started_ms + rng.integers(0, SEND_SECONDS * 1000, recipients))
    return pa.table(
        {
            "customer_id": [f"C{i:08d}" for i in chosen],
            "grp": np.where(held, HOLDOUT, MESSAGED),
            "variant": variant,
            "start": pa.array(start, pa.timestamp("ms", tz="UTC")),
        },
        schema=MEMBER_SCHEMA,
    )


def generate_orders(con: duckdb.DuckDBPyConnection, members: pa.Table, orders: int, customers: int) -> int:
    """Fill `con`'s empty `orders` table; returns how many of its orders are planted."""
    planted = int(orders * PLANTED_SHARE)
    messaged = pc.sum(pc.equal(members["grp"], MESSAGED)).as_py()
    columns = "INSERT INTO orders (order_id, customer_id, amount, status, order_date) "
    con.register("bench_members", members)
    try:
        con.execute(
            columns + f"SELECT * FROM ({_BACKGROUND_SQL} UNION ALL {_PLANTED_SQL}) ORDER BY order_date",
            [customers, STARTED, orders - planted, WINDOW_DAYS, planted, max(1, messaged)],
        )
    finally:
        con.unregister("bench_members")
    return planted


def pandas_figures(members: pd.DataFrame, orders: pd.DataFrame) -> dict[str, tuple[int, int, int]]:
    """Recipients, converters and revenue (paise) of each group and variant, in plain pandas."""
    completed = orders[orders["status"] == "completed"]
    joined = members.merge(completed, on="customer_id", how="inner")
    window = pd.Timedelta(days=WINDOW_DAYS)
    joined = joined[(joined["order_date"] > joined["start"]) & (joined["order_date"] <= joined["start"] + window)]
    per_member = joined.groupby("customer_id").agg(orders=("order_id", "size"), revenue=("amount", "sum"))
    outcome = members.join(per_member, on="customer_id")
    outcome["converted"] = outcome["orders"].fillna(0) > 0
    outcome["revenue"] = outcome["revenue"].fillna(0).astype("int64")
    figures: dict[str, tuple[int, int, int]] = {}
    for group, rows in outcome.groupby("grp"):
        figures[str(group)] = _counts(rows)
    messaged = outcome[outcome["grp"] == MESSAGED]
    for variant in range(len(TEMPLATES)):
        figures[f"variant_{variant + 1}"] = _counts(messaged[messaged["variant"] == variant])
    return figures


def _counts(rows: pd.DataFrame) -> tuple[int, int, int]:
    return len(rows), int(rows["converted"].sum()), int(rows["revenue"].sum())


def our_figures(results: Results) -> dict[str, tuple[int, int, int]]:
    groups = {MESSAGED: results.messaged} | ({HOLDOUT: results.holdout} if results.holdout else {})
    groups |= {f"variant_{i + 1}": figures for i, (figures, _) in enumerate(results.variants)}
    return {name: (f.recipients, f.converters, f.revenue_paise) for name, f in groups.items()}


def _median_seconds(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time of `repeats` runs after one untimed run (imports, first plans), and the last result."""
    times, result = [], fn()
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def run(args) -> dict:
    from crm.analytics.analytic_copy import new_connection

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    campaign = make_campaign()
    con = new_connection()
    progress(f"generating {args.recipients} members and {args.orders} orders of {args.customers} customers...")
    started = time.perf_counter()
    members = make_members(args.recipients, args.customers)
    planted = generate_orders(con, members, args.orders, args.customers)
    generate_seconds = time.perf_counter() - started

    progress(f"timing attribute() + compute_results(), {args.repeats} runs...")
    ours, results = _median_seconds(
        lambda: compute_results(campaign, attribute(con.cursor(), members, campaign.window_days)), args.repeats
    )
    attribute_only, _ = _median_seconds(lambda: attribute(con.cursor(), members, campaign.window_days), args.repeats)

    progress(f"timing pandas, {args.repeats} runs...")
    member_frame = members.to_pandas()
    order_frame = (
        con.sql("SELECT order_id, customer_id, amount, status, order_date FROM orders").to_arrow_table().to_pandas()
    )
    baseline, expected = _median_seconds(lambda: pandas_figures(member_frame, order_frame), args.repeats)
    con.close()

    got = our_figures(results)
    if got != expected:
        raise AssertionError(f"ours and pandas disagree: ours {got}, pandas {expected}")
    assert results.lift is not None
    return {
        "recipients": args.recipients,
        "messaged": results.messaged.recipients,
        "holdout": results.holdout.recipients if results.holdout else 0,
        "variants": len(campaign.templates),
        "window_days": campaign.window_days,
        "orders": args.orders,
        "planted_orders": planted,
        "customers": args.customers,
        "repeats": args.repeats,
        "threads": duckdb.connect().execute("SELECT current_setting('threads')").fetchall()[0][0],
        "generate_seconds": round(generate_seconds, 2),
        "ours_seconds": round(ours, 4),
        "ours_attribute_seconds": round(attribute_only, 4),
        "pandas_seconds": round(baseline, 4),
        "ratio_vs_pandas": round(ours / baseline, 3),
        "aim_seconds": AIM_SECONDS,
        "within_aim": ours <= AIM_SECONDS,
        "figures_agree": True,
        "figures": {name: dict(zip(("recipients", "converters", "revenue_paise"), f)) for name, f in got.items()},
        "lift_points": round(results.lift.points, 3),
        "lift_ci": [round(results.lift.low, 3), round(results.lift.high, 3)],
        "lift_significant": results.lift.significant,
    }
