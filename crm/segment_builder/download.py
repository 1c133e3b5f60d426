"""An audience as CSV bytes for a download button, written by the streaming export.

The export streams Arrow batches to a temporary file (never a Python object per row); the
bytes are read back once for the browser and the file is removed. Up to PREPARE_ABOVE_ROWS
rows the page writes the file when the download button is clicked (under a second); larger
audiences are prepared first behind a progress bar, then downloaded.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path

from crm.analytics.export import export_csv
from crm.auth.permissions import Principal
from crm.store.documents import Database

PREPARE_ABOVE_ROWS = 100_000


def audience_csv(
    rule,
    columns: list[str] | None = None,
    as_of: date | None = None,
    on_rows: Callable[[int, int], None] | None = None,
    *,
    by: Principal,
    db: Database,
    segment: str = "",
) -> bytes:
    with tempfile.TemporaryDirectory(prefix="crm-export-") as folder:
        path = Path(folder) / "audience.csv"
        export_csv(rule, path, as_of=as_of, columns=columns, on_rows=on_rows, by=by, db=db, segment=segment)
        return path.read_bytes()
