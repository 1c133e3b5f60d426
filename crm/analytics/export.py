"""Export an audience to CSV, streamed as Arrow record batches (never a row per Python object)."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pyarrow.csv as pa_csv
from tqdm import tqdm

from crm.analytics.audience_columns import select_list
from crm.analytics.segment_preview import audience_query, parse, today_utc
from crm.auth import audit
from crm.auth.permissions import Principal, requires
from crm.errors import InvalidInput
from crm.formats.csv_safety import neutralise_batch
from crm.segment_engine import describe_rule
from crm.store.documents import Database

BATCH_ROWS = 65_536


@requires("data.export")
def export_csv(
    rule,
    path: Path,
    as_of: date | None = None,
    columns: list[str] | None = None,
    progress: bool = False,
    on_rows: Callable[[int, int], None] | None = None,
    *,
    by: Principal,
    db: Database,
    segment: str = "",
) -> int:
    """Write the customers a rule matches to `path` (header + one row each, by customer_id).

    The file appears whole or not at all: rows go to a temporary file renamed at the end. Text
    a spreadsheet would run as a formula is written as text (`crm.formats.csv_safety`). The export is
    audited with who asked, the segment (`segment`: its name, else the rule in English) and the
    rows written.
    `progress` draws a terminal progress bar; `on_rows(written, total)` is called after each
    batch (for a progress bar elsewhere). Returns the number of rows written.
    """
    from crm.analytics.analytic_copy import open_copy

    group = parse(rule)
    as_of = as_of or today_utc()
    select, select_params = select_list(columns, as_of, csv=True)
    cur = open_copy().cursor()
    total = cur.execute(*audience_query(group, as_of, "count(*)")).fetchall()[0][0]
    sql, params = audience_query(group, as_of, select, select_params)
    reader = cur.sql(f"{sql} ORDER BY f.customer_id", params=params).to_arrow_reader(BATCH_ROWS)
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise InvalidInput(str(path), "the folder does not exist")
    tmp = path.with_name(f".{path.name}.partial")
    written = 0
    try:
        with (
            open(tmp, "wb") as out,
            pa_csv.CSVWriter(out, reader.schema) as writer,
            tqdm(total=total, unit="rows", disable=not progress or None) as bar,
        ):
            for batch in reader:
                writer.write_batch(neutralise_batch(batch))
                written += batch.num_rows
                bar.update(batch.num_rows)
                if on_rows is not None:
                    on_rows(written, total)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    audit.record(
        by,
        "data.export",
        segment or describe_rule(group),
        {"rows": written, "columns": columns or "all", "as_of": as_of.isoformat()},
        db=db,
    )
    return written
