"""An audience as CSV bytes for a download button, written by the streaming export.

The export streams Arrow batches to a temporary file (never a Python object per row); the
bytes are read back once for the browser and the file is removed.
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

from crm.analytics.export import export_csv


def audience_csv(rule, columns: list[str] | None = None, as_of: date | None = None) -> bytes:
    with tempfile.TemporaryDirectory(prefix="crm-export-") as folder:
        path = Path(folder) / "audience.csv"
        export_csv(rule, path, as_of=as_of, columns=columns)
        return path.read_bytes()
