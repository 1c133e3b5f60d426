"""What a CSV import would do, without writing anything: the check the Data page shows first.

The same check `import_csv` runs before it writes (`check_csv`), kept small (no records) so
the page can cache it.
"""

from __future__ import annotations

from dataclasses import dataclass

from crm.ingest.csv_import import ImportReport, Source, check_csv
from crm.ingest.reading import Reading
from crm.ingest.records import Kind
from crm.store.documents import Database


@dataclass
class ImportPreview:
    report: ImportReport  # rows_read and rejected; nothing written
    valid_rows: int
    invalid_rows: int


def preview_import(
    db: Database, kind: Kind, source: Source, mapping: dict[str, str], reading: Reading = Reading()
) -> ImportPreview:
    checked = check_csv(db, kind, source, mapping, reading=reading)
    return ImportPreview(report=checked.report, valid_rows=checked.valid_rows, invalid_rows=checked.invalid_rows)
