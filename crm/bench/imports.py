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
from typing import TYPE_CHECKING

from crm.auth import CLI

if TYPE_CHECKING:
    from crm.ingest.records import Kind


def add_arguments(parser) -> None:
    parser.add_argument("--customers", type=int, default=100_000, help="customer rows (default 100000)")
    parser.add_argument("--orders", type=int, default=1_000_000, help="order rows (default 1000000)")


def _duckdb_rate(paths: list[Path]) -> float:
    import duckdb

    con = duckdb.connect()
    rows = 0
    started = time.perf_counter()
    for index, path in enumerate(paths):
        con.execute(
            f"CREATE TABLE t{index} AS SELECT * FROM read_csv(?, header = true, all_varchar = true)", [str(path)]
        )
        (count,) = con.execute(f"SELECT count(*) FROM t{index}").fetchone() or (0,)
        rows += count
    seconds = time.perf_counter() - started
    con.close()
    return rows / seconds


def _plain_insert(db, kind: Kind, path: Path) -> tuple[int, float]:
    """Time insert_many of exactly the documents our import writes (prepared untimed)."""
    from crm.ingest.csv_import import FIRST_DATA_ROW, read_header, read_rows, suggest_mapping
    from crm.ingest.records import record_to_document, validate_records
    from crm.ingest.writer import CHUNK_SIZE
    from crm.store.clock import utc_now

    result = validate_records(kind, read_rows(path, suggest_mapping(kind, read_header(path))), FIRST_DATA_ROW)
    now = utc_now()
    docs = [{**record_to_document(record), "created_at": now, "updated_at": now} for record in result.valid]
    started = time.perf_counter()
    for start in range(0, len(docs), CHUNK_SIZE):
        db[kind].insert_many(docs[start : start + CHUNK_SIZE], ordered=False)
    return len(docs), time.perf_counter() - started


def _validation_rate(kind: Kind, path: Path) -> float:
    from crm.ingest.csv_import import FIRST_DATA_ROW, read_header, read_rows, suggest_mapping
    from crm.ingest.records import validate_records

    started = time.perf_counter()
    result = validate_records(kind, read_rows(path, suggest_mapping(kind, read_header(path))), FIRST_DATA_ROW)
    return result.rows_seen / (time.perf_counter() - started)


def run(args) -> dict:
    import pymongo

    from crm import store
    from crm.config import load_settings
    from crm.ingest.csv_import import import_csv
    from crm.ingest.fake_csv import write_customers_csv, write_orders_csv
    from crm.store.embedded import EmbeddedServer
    from crm.store.schema import ensure_indexes

    with tempfile.TemporaryDirectory(prefix="crm-bench-import-") as tmp:
        tmp_dir = Path(tmp)
        customers_csv = write_customers_csv(tmp_dir / "customers.csv", args.customers)
        orders_csv = write_orders_csv(tmp_dir / "orders.csv", args.orders, customers=max(args.customers, 1))
        suffix = uuid.uuid4().hex[:8]
        # This process only: the analytic copy that after_write() touches follows CRM_DB_NAME.
        os.environ["CRM_DB_NAME"] = f"bench_ours_{suffix}"
        embedded = not load_settings().mongodb_uri
        plain_server: EmbeddedServer | None = None
        plain_client: pymongo.MongoClient
        if embedded:
            # Each side gets a fresh server of its own: neither pays for the other's data.
            os.environ["CRM_DATA_DIR"] = str(tmp_dir / "ours")
            plain_server = EmbeddedServer(tmp_dir / "plain")
            plain_client = pymongo.MongoClient(plain_server.ensure().uri, tz_aware=True)
        store.reset()
        ours_db = store.get_db()
        if not embedded:
            plain_client = ours_db.client
        plain_db = plain_client[f"bench_plain_{suffix}"]
        ensure_indexes(plain_db)
        try:
            per_kind: dict[str, dict] = {}
            kinds: tuple[tuple[Kind, Path], ...] = (("customers", customers_csv), ("orders", orders_csv))
            for kind, path in kinds:
                rows, plain_seconds = _plain_insert(plain_db, kind, path)
                started = time.perf_counter()
                import_csv(ours_db, kind, path, by=CLI)
                ours_seconds = time.perf_counter() - started
                if ours_db[kind].count_documents({}) != rows:
                    raise RuntimeError(f"{kind}: our import wrote {ours_db[kind].count_documents({})} of {rows} rows")
                per_kind[kind] = {"rows": rows, "ours_seconds": ours_seconds, "plain_seconds": plain_seconds}
            figures = _figures(per_kind)
            figures["validation_rows_per_s"] = round(_validation_rate("orders", orders_csv))
            figures["duckdb_csv_rows_per_s"] = round(_duckdb_rate([customers_csv, orders_csv]))
        finally:
            if plain_server is not None:  # the temp dir goes with everything in it (dropping is slow there)
                plain_client.close()
                plain_server.stop()
                store.reset()
                store.embedded_server().stop()
            else:
                plain_client.drop_database(ours_db.name)
                plain_client.drop_database(plain_db.name)
                store.reset()
    return figures


def _figures(per_kind: dict[str, dict]) -> dict:
    rows = sum(part["rows"] for part in per_kind.values())
    ours = sum(part["ours_seconds"] for part in per_kind.values())
    plain = sum(part["plain_seconds"] for part in per_kind.values())
    figures = {
        "rows": rows,
        "ours_seconds": round(ours, 2),
        "plain_seconds": round(plain, 2),
        "ours_rows_per_s": round(rows / ours),
        "plain_rows_per_s": round(rows / plain),
        "ratio_ours_over_plain": round(plain / ours, 3),
    }
    for kind, part in per_kind.items():
        figures[f"{kind}_ours_rows_per_s"] = round(part["rows"] / part["ours_seconds"])
        figures[f"{kind}_plain_rows_per_s"] = round(part["rows"] / part["plain_seconds"])
    return figures
