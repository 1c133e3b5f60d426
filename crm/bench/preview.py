"""Segment preview speed (count + waterfall + sample) against polars and pandas, in one run.

Data is generated straight into DuckDB with SQL (range() and hash(): deterministic, no Python
rows), features are built by the segment engine, and each rule is previewed repeatedly with the
cache off: "ours" is count + waterfall + spend histogram + 50 rows; "ours_with_top_cities" adds
the query for the audience's top cities. The baselines answer the same count and first rows with hand-written polars and
pandas code over a feature frame computed beforehand (and the orders, for the 30-day window).
Also timed: building features, saving/loading the snapshot file, and the incremental refresh
after appending 10k orders against a full rebuild of the copy.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from crm.segment_engine.features import SURROGATE_COLUMNS

AS_OF = date(2025, 6, 30)
CITIES = ["Mumbai", "Pune", "Delhi", "Bengaluru", "Chennai", "Hyderabad", "Kolkata", "Ahmedabad", "Jaipur", "Lucknow"]
APPENDED_ORDERS = 10_000

RULES = {
    "and_of_features": {
        "op": "and",
        "rules": [
            {"field": "total_spend", "operator": ">", "value": 5000},
            {"field": "order_count", "operator": ">=", "value": 3},
            {"field": "days_since_last_order", "operator": "<=", "value": 90},
        ],
    },
    "or_city_order_count": {
        "op": "or",
        "rules": [
            {"field": "city", "operator": "in", "value": ["Mumbai", "Pune"]},
            {"field": "order_count", "operator": ">=", "value": 15},
        ],
    },
    "nested_30_day_window": {
        "op": "and",
        "rules": [
            {"field": "total_spend", "operator": ">", "value": 1000},
            {
                "op": "or",
                "rules": [
                    {"field": "order_count", "operator": ">=", "value": 2, "within_days": 30},
                    {"field": "tags", "operator": "contains", "value": "vip"},
                ],
            },
            {"field": "city", "operator": "not_in", "value": ["Delhi"]},
        ],
    },
}

# Deterministic pseudo-random customers: hash(i, k) gives an independent draw per attribute k.
_CUSTOMERS_SQL = """
INSERT INTO customers (customer_id, name, email, phone, city, gender, age, signup_date, tags,
                       consent_email, consent_sms, consent_whatsapp, created_at, updated_at)
SELECT printf('C%08d', i), 'Customer ' || i, printf('c%d@example.com', i),
       printf('+9198%08d', hash(i, 1) % 100000000),
       ?[1 + (hash(i, 2) % 10)::BIGINT],
       ['female', 'male', 'other'][1 + (hash(i, 3) % 3)::BIGINT],
       (18 + hash(i, 4) % 60)::INTEGER,
       ?::TIMESTAMP - to_days((hash(i, 5) % 1500)::INTEGER),
       list_concat(CASE WHEN hash(i, 6) % 10 = 0 THEN ['vip'] ELSE [] END,
                   CASE WHEN hash(i, 7) % 3 = 0 THEN ['newsletter'] ELSE [] END),
       ['yes', 'no', 'unknown'][1 + (hash(i, 8) % 3)::BIGINT], ['yes', 'no', 'unknown'][1 + (hash(i, 9) % 3)::BIGINT],
       ['yes', 'no', 'unknown'][1 + (hash(i, 10) % 3)::BIGINT],
       ?::TIMESTAMP - INTERVAL 1500 DAY, ?::TIMESTAMP - INTERVAL 1500 DAY
FROM range(?) t(i)
"""

# Orders over two years before the as-of date; 20% of customers never order; sorted by date.
_ORDERS_SQL = """
SELECT printf('O%09d', j) AS order_id, printf('C%08d', hash(j, 1) % ?) AS customer_id,
       (100 * (50 + hash(j, 2) % 3000))::BIGINT AS amount,
       CASE WHEN hash(j, 3) % 100 < 90 THEN 'completed'
            WHEN hash(j, 3) % 100 < 97 THEN 'cancelled' ELSE 'refunded' END AS status,
       ?::TIMESTAMP - to_seconds((hash(j, 4) % (730 * 86400))::BIGINT) AS order_date,
       ?::TIMESTAMP - to_seconds((hash(j, 4) % (730 * 86400))::BIGINT) AS created_at,
       ?::TIMESTAMP - to_seconds((hash(j, 4) % (730 * 86400))::BIGINT) AS updated_at
FROM range(?, ?) t(j)
"""


# What an incremental refresh must leave exactly as a rebuild does (integer keys may differ).
_FINGERPRINTS = (
    f"SELECT sum(hash(COLUMNS(* EXCLUDE ({', '.join(SURROGATE_COLUMNS)})))) FROM customer_features",
    "SELECT sum(hash(k.customer_id, o.day, o.amount)) FROM completed_orders AS o JOIN customer_keys AS k "
    "USING (customer_idx)",
)


def add_arguments(parser) -> None:
    parser.add_argument(
        "--sizes", default="100k/1M", help="comma-separated CUSTOMERS/ORDERS sizes, e.g. 100k/1M,1M/10M"
    )
    parser.add_argument("--repeats", type=int, default=30, help="timed previews per rule (ours)")
    parser.add_argument("--baseline-repeats", type=int, default=10, help="timed runs per rule (baselines)")


def parse_size(text: str) -> int:
    text = text.strip().lower()
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if factor > 1 else text) * factor)


def parse_sizes(text: str) -> list[tuple[int, int]]:
    from crm.errors import InvalidInput

    sizes = []
    for part in text.split(","):
        try:
            customers, orders = part.split("/")
            sizes.append((parse_size(customers), parse_size(orders)))
        except ValueError as exc:
            raise InvalidInput("--sizes", f"{part!r} is not CUSTOMERS/ORDERS like 100k/1M") from exc
    return sizes


def generate(con: duckdb.DuckDBPyConnection, customers: int, orders: int) -> None:
    """Fill the empty tables of `con` (from `new_connection()`) with synthetic data."""
    midnight = str(AS_OF)
    con.execute(_CUSTOMERS_SQL, [CITIES, midnight, midnight, midnight, customers])
    buyers = max(1, customers * 4 // 5)
    con.execute(
        "INSERT INTO orders (order_id, customer_id, amount, status, order_date, created_at, updated_at) "
        + _ORDERS_SQL
        + " ORDER BY order_date",
        [buyers, midnight, midnight, midnight, 0, orders],
    )


def _timed(fn, repeats: int) -> tuple[dict, Any]:
    """p50/p90 wall time, and p50 CPU time of this process (all threads): on a shared machine
    the CPU figure shows the work done when the wall clock also counts waiting for a core."""
    times, cpu, result = [], [], None
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
    times.sort()
    p90 = times[min(len(times) - 1, int(round(0.9 * (len(times) - 1))))]
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p90_ms": round(p90, 2),
        "cpu_p50_ms": round(statistics.median(cpu), 2),
    }, result


def _baselines(con: duckdb.DuckDBPyConnection):
    """Polars and pandas answers (count, first 50 ids) over frames computed beforehand."""
    import pandas as pd
    import polars as pl

    features = con.sql(
        "SELECT customer_id, city_key, tags_key, total_spend_paise, order_count, last_order_day FROM customer_features"
    ).to_arrow_table()
    orders = con.sql("SELECT customer_id, status, order_date::DATE AS order_day FROM orders").to_arrow_table()
    pf, po = pl.from_arrow(features), pl.from_arrow(orders)
    df, do = features.to_pandas(), orders.to_pandas()
    as_of, start = AS_OF, AS_OF - timedelta(days=30)
    as_of_ts, start_ts = pd.Timestamp(as_of), pd.Timestamp(start)

    def pl_answer(frame):
        return frame.height, frame.head(50)["customer_id"].to_list()

    def pd_answer(frame):
        return len(frame), frame["customer_id"].head(50).tolist()

    def pl_and():
        spend = pl.col("total_spend_paise").fill_null(0)
        days = (pl.lit(as_of) - pl.col("last_order_day")).dt.total_days()
        return pl_answer(
            pf.filter((spend > 500_000) & (pl.col("order_count").fill_null(0) >= 3) & days.le(90).fill_null(False))
        )

    def pl_or():
        return pl_answer(
            pf.filter(
                pl.col("city_key").is_in(["mumbai", "pune"]).fill_null(False)
                | (pl.col("order_count").fill_null(0) >= 15)
            )
        )

    def pl_nested():
        recent = (
            po.filter((pl.col("status") == "completed") & pl.col("order_day").is_between(start, as_of))
            .group_by("customer_id")
            .len("recent")
        )
        joined = pf.join(recent, on="customer_id", how="left", maintain_order="left")
        vip = pl.col("tags_key").list.contains("vip")
        return pl_answer(
            joined.filter(
                (pl.col("total_spend_paise").fill_null(0) > 100_000)
                & ((pl.col("recent").fill_null(0) >= 2) | vip)
                & pl.col("city_key").is_not_null()
                & (pl.col("city_key") != "delhi")
            )
        )

    def pd_and():
        days = (as_of_ts - pd.to_datetime(df["last_order_day"])).dt.days
        mask = (df["total_spend_paise"].fillna(0) > 500_000) & (df["order_count"].fillna(0) >= 3) & (days <= 90)
        return pd_answer(df[mask])

    def pd_or():
        return pd_answer(df[df["city_key"].isin(["mumbai", "pune"]) | (df["order_count"].fillna(0) >= 15)])

    def pd_nested():
        days = pd.to_datetime(do["order_day"])
        recent = do[(do["status"] == "completed") & (days >= start_ts) & (days <= as_of_ts)]
        counts = recent.groupby("customer_id").size().rename("recent")
        joined = df.join(counts, on="customer_id")
        vip = joined["tags_key"].map(lambda tags: tags is not None and "vip" in list(tags))
        mask = (
            (joined["total_spend_paise"].fillna(0) > 100_000)
            & ((joined["recent"].fillna(0) >= 2) | vip)
            & joined["city_key"].notna()
            & (joined["city_key"] != "delhi")
        )
        return pd_answer(joined[mask])

    return {
        "and_of_features": (pl_and, pd_and),
        "or_city_order_count": (pl_or, pd_or),
        "nested_30_day_window": (pl_nested, pd_nested),
    }


def _appended_orders(con: duckdb.DuckDBPyConnection, customers: int, orders: int) -> pa.Table:
    """10k new orders dated in the last week, as the refresh would read them from MongoDB."""
    recent = str(AS_OF + timedelta(days=7))
    return con.sql(
        _ORDERS_SQL.replace("730 * 86400", "7 * 86400"),
        params=[max(1, customers * 4 // 5), recent, recent, recent, orders, orders + APPENDED_ORDERS],
    ).to_arrow_table()


def bench_size(customers: int, orders: int, repeats: int, baseline_repeats: int) -> dict:
    from crm.analytics.analytic_copy import new_connection, read_snapshot, write_snapshot
    from crm.analytics.mongo_read import CUSTOMER_SCHEMA
    from crm.analytics.segment_preview import compute_preview, parse
    from crm.analytics.upsert import apply_changes, load_all
    from crm.segment_engine import build_features

    out: dict = {"customers": customers, "orders": orders}
    con = new_connection()
    started = time.perf_counter()
    generate(con, customers, orders)
    out["generate_seconds"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    build_features(con)
    out["build_features_seconds"] = round(time.perf_counter() - started, 2)

    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "snapshot.duckdb")
        started = time.perf_counter()
        write_snapshot(con, Path(path))
        out["snapshot_save_seconds"] = round(time.perf_counter() - started, 2)
        fresh = duckdb.connect(":memory:")
        started = time.perf_counter()
        read_snapshot(fresh, Path(path))
        out["snapshot_load_seconds"] = round(time.perf_counter() - started, 2)
        fresh.close()

    rules = {}
    baselines = _baselines(con)
    for name, raw in RULES.items():
        group = parse(raw)
        ours, result = _timed(lambda group=group: compute_preview(con, group, AS_OF, 50, cities=False), repeats)
        with_summary, _ = _timed(lambda group=group: compute_preview(con, group, AS_OF, 50), repeats)
        pl_fn, pd_fn = baselines[name]
        polars_t, (pl_count, pl_ids) = _timed(pl_fn, baseline_repeats)
        pandas_t, (pd_count, pd_ids) = _timed(pd_fn, baseline_repeats)
        rules[name] = {
            "count": result.count,
            "ours": ours,
            "ours_with_top_cities": with_summary,
            "polars": polars_t,
            "pandas": pandas_t,
            "ours_over_polars_p50": round(ours["p50_ms"] / polars_t["p50_ms"], 3),
            "ours_over_pandas_p50": round(ours["p50_ms"] / pandas_t["p50_ms"], 3),
            "ours_over_polars_cpu_p50": round(ours["cpu_p50_ms"] / polars_t["cpu_p50_ms"], 3),
            "counts_agree": result.count == pl_count == pd_count,
            "sample_size": len(result.sample),
        }
    out["rules"] = rules

    # Incremental refresh of 10k appended orders against rebuilding the whole copy.
    appended = _appended_orders(con, customers, orders)
    no_customers = CUSTOMER_SCHEMA.to_arrow().empty_table()
    all_customers = con.sql(
        "SELECT customer_id, name, email, phone, city, gender, age::BIGINT AS age, signup_date, tags, "
        "{'email': {'status': consent_email}, 'sms': {'status': consent_sms}, "
        "'whatsapp': {'status': consent_whatsapp}} AS consent, "
        "created_at, updated_at FROM customers"
    ).to_arrow_table()
    all_orders = con.sql(
        "SELECT order_id, customer_id, amount, status, order_date, created_at, updated_at FROM orders"
    ).to_arrow_table()
    started, cpu_started = time.perf_counter(), time.process_time()
    applied = apply_changes(con, no_customers, appended)
    incremental, incremental_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    rebuilt = new_connection()
    started, cpu_started = time.perf_counter(), time.process_time()
    load_all(rebuilt, all_customers, pa.concat_tables([all_orders, appended.cast(all_orders.schema)]))
    full, full_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    same = all(con.execute(query).fetchall() == rebuilt.execute(query).fetchall() for query in _FINGERPRINTS)
    out["refresh"] = {
        "appended_orders": applied,
        "incremental_seconds": round(incremental, 3),
        "full_rebuild_seconds": round(full, 2),
        "incremental_over_full": round(incremental / full, 4),
        "incremental_over_full_cpu": round(incremental_cpu / full_cpu, 4),
        "incremental_equals_rebuild": same,
    }
    rebuilt.close()
    con.close()
    return out


def run(args) -> dict:
    sizes = parse_sizes(args.sizes)
    return {
        "as_of": str(AS_OF),
        "threads": duckdb.connect().execute("SELECT current_setting('threads')").fetchall()[0][0],
        "sizes": [bench_size(c, o, args.repeats, args.baseline_repeats) for c, o in sizes],
    }
