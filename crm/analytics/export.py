"""Export an audience to CSV, streamed as Arrow record batches (never a row per Python object)."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
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
# ISO 8601 to the second with the offset written out ("+00:00"): a file read elsewhere, or
# imported back, cannot take the time for the workspace's local time.
ISO_SECONDS = "%Y-%m-%dT%H:%M:%S%Ez"


def iso_timestamps(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Every timestamp column as ISO 8601 text to the second; other columns (dates, which hold
    calendar days, included) as they are."""
    fields, columns = [], []
    for field, column in zip(batch.schema, batch.columns, strict=True):
        if pa.types.is_timestamp(column.type):
            # A naive timestamp is UTC (`audience_columns`). Seconds are floored before the
            # unit drops, or `%S` would print the microseconds.
            zone = column.type.tz or "UTC"
            seconds = pc.floor_temporal(column.cast(pa.timestamp(column.type.unit, zone)), unit="second")
            column = pc.strftime(seconds.cast(pa.timestamp("s", zone)), format=ISO_SECONDS)
            field = field.with_type(pa.string())
        fields.append(field)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=pa.schema(fields, metadata=batch.schema.metadata))


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
    a spreadsheet would run as a formula is written as text (`crm.formats.csv_safety`); times as
    ISO 8601 with their offset, to the second (`iso_timestamps`). The export is
    audited with who asked, the segment (`segment`: its name, else the rule in English) and the
    rows written.
    `progress` draws a terminal progress bar; `on_rows(written, total)` is called after each
    batch (for a progress bar elsewhere). Returns the number of rows written.
    """
    from crm.analytics.analytic_copy import open_copy

    copy = open_copy()
    group = parse(rule, copy.catalogue)
    as_of = as_of or today_utc()
    select, select_params = select_list(columns, as_of, csv=True, attributes=copy.attributes)
    cur = copy.cursor()
    total = cur.execute(*audience_query(group, as_of, "count(*)")).fetchall()[0][0]
    sql, params = audience_query(group, as_of, select, select_params)
    reader = cur.sql(f"{sql} ORDER BY f.customer_id", params=params).to_arrow_reader(BATCH_ROWS)
    # The header is written before any batch is read: its types are what a batch becomes.
    schema = iso_timestamps(pa.RecordBatch.from_pylist([], schema=reader.schema)).schema
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise InvalidInput(str(path), "the folder does not exist")
    tmp = path.with_name(f".{path.name}.partial")
    written = 0
    try:
        with (
            open(tmp, "wb") as out,
            pa_csv.CSVWriter(out, schema) as writer,
            tqdm(total=total, unit="rows", disable=not progress or None) as bar,
        ):
            for batch in reader:
                writer.write_batch(neutralise_batch(iso_timestamps(batch)))
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
