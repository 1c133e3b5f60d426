"""CSV import rate: ours against plain insert_many of the same documents and DuckDB's CSV reader.

All three run in one process on the same generated files, so the ratios compare like with like:
`plain` is the database's own bulk-insert speed (the most any importer can reach through it),
`duckdb_csv` is how fast the files can be parsed at all (a ceiling for reading).
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from pathlib import Path


def add_arguments(parser) -> None:
    parser.add_argument("--customers", type=int, default=100_000, help="customer rows (default 100000)")
    parser.add_argument("--orders", type=int, default=1_000_000, help="order rows (default 1000000)")


def _duckdb_rate(paths: list[Path]) -> float:
    import duckdb

    con = duckdb.connect()
    rows = 0
    started = time.perf_counter()
    for index, path in enumerate(paths):
        con.execute(f"CREATE TABLE t{index} AS SELECT * FROM read_csv(?, header = true, all_varchar = true)",
                    [str(path)])
        rows += con.execute(f"SELECT count(*) FROM t{index}").fetchone()[0]
    seconds = time.perf_counter() - started
    con.close()
    return rows / seconds


def _plain_insert(db, kind: str, path: Path) -> tuple[int, float]:
    """Time insert_many of exactly the documents our import writes (prepared untimed)."""
    from crm.ingest.csv_import import FIRST_DATA_ROW, read_rows, suggest_mapping, read_header
    from crm.ingest.records import record_to_document, validate_records
    from crm.ingest.writer import CHUNK_SIZE, utc_now

    result = validate_records(kind, read_rows(path, suggest_mapping(kind, read_header(path))), FIRST_DATA_ROW)
    now = utc_now()
    docs = [{**record_to_document(record), "created_at": now, "updated_at": now} for record in result.valid]
    started = time.perf_counter()
    for start in range(0, len(docs), CHUNK_SIZE):
        db[kind].insert_many(docs[start:start + CHUNK_SIZE], ordered=False)
    return len(docs), time.perf_counter() - started


def _validation_rate(kind: str, path: Path) -> float:
    from crm.ingest.csv_import import FIRST_DATA_ROW, read_header, read_rows, suggest_mapping
    from crm.ingest.records import validate_records

    started = time.perf_counter()
    result = validate_records(kind, read_rows(path, suggest_mapping(kind, read_header(path))), FIRST_DATA_ROW)
    return result.rows_seen / (time.perf_counter() - started)


def run(args) -> dict:
    from crm import store
    from crm.config import load_settings
    from crm.ingest.csv_import import import_csv
    from crm.ingest.fake_csv import write_customers_csv, write_orders_csv
    from crm.store.schema import ensure_indexes

    with tempfile.TemporaryDirectory(prefix="crm-bench-import-") as tmp:
        tmp_dir = Path(tmp)
        customers_csv = write_customers_csv(tmp_dir / "customers.csv", args.customers)
        orders_csv = write_orders_csv(tmp_dir / "orders.csv", args.orders, customers=max(args.customers, 1))
        suffix = uuid.uuid4().hex[:8]
        # This process only: the analytic copy that after_write() touches follows CRM_DB_NAME,
        # and with no MONGODB_URI the benchmark gets its own embedded server in a temp dir.
        os.environ["CRM_DB_NAME"] = f"bench_ours_{suffix}"
        embedded = not load_settings().mongodb_uri
        if embedded:
            os.environ["CRM_DATA_DIR"] = str(tmp_dir / "data")
        store.reset()
        ours_db = store.get_db()
        plain_db = ours_db.client[f"bench_plain_{suffix}"]
        ensure_indexes(plain_db)
        try:
            ours_seconds = plain_seconds = 0.0
            plain_rows = 0
            for kind, path in (("customers", customers_csv), ("orders", orders_csv)):
                rows, seconds = _plain_insert(plain_db, kind, path)
                plain_rows += rows
                plain_seconds += seconds
                started = time.perf_counter()
                import_csv(ours_db, kind, path)
                ours_seconds += time.perf_counter() - started
            ours_rows = ours_db.customers.count_documents({}) + ours_db.orders.count_documents({})
            if not ours_rows == plain_rows == args.customers + args.orders:
                raise RuntimeError(f"row counts differ: ours {ours_rows}, plain {plain_rows}")
            figures = {
                "rows": ours_rows, "customers": args.customers, "orders": args.orders,
                "ours_seconds": round(ours_seconds, 2), "plain_seconds": round(plain_seconds, 2),
                "ours_rows_per_s": round(ours_rows / ours_seconds),
                "plain_rows_per_s": round(plain_rows / plain_seconds),
                "ratio_ours_over_plain": round(plain_seconds / ours_seconds, 3),
                "validation_rows_per_s": round(_validation_rate("orders", orders_csv)),
                "duckdb_csv_rows_per_s": round(_duckdb_rate([customers_csv, orders_csv])),
            }
        finally:
            if embedded:  # the temp dir goes with everything in it (dropping is slow there)
                store.reset()
                store.embedded_server().stop()
            else:
                ours_db.client.drop_database(ours_db.name)
                ours_db.client.drop_database(plain_db.name)
                store.reset()
    return figures
