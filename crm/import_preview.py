"""What a CSV import would do, without writing anything: the check the Data page shows first.

It runs the same steps as `crm.ingest.csv_import.import_csv` up to the write (mapping check,
row validation, unknown customers for orders), so the report matches what an import would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass

from pymongo.database import Database

from crm.ingest.csv_import import (FIRST_DATA_ROW, ImportReport, Source, check_mapping, read_header,
                                   read_rows)
from crm.ingest.records import Kind, RowError, check_customers_exist, validate_records


@dataclass
class ImportPreview:
    report: ImportReport  # rows_read and rejected; nothing written
    valid_rows: int

    @property
    def invalid_rows(self) -> int:
        return len({error.row for error in self.report.rejected})


def preview_import(db: Database, kind: Kind, source: Source, mapping: dict[str, str]) -> ImportPreview:
    check_mapping(kind, read_header(source), mapping)
    result = validate_records(kind, read_rows(source, mapping), first_row=FIRST_DATA_ROW)
    errors = list(result.errors)
    if kind == "orders" and result.valid:
        errors += check_customers_exist(db, result.valid, result.rows)
    columns = {our_field: column for column, our_field in mapping.items()}
    rejected = sorted((RowError(e.row, columns.get(e.column.split(".")[0], e.column), e.reason)
                       for e in errors), key=lambda error: error.row)
    report = ImportReport(kind=kind, rows_read=result.rows_seen, rejected=rejected)
    bad_rows = {error.row for error in rejected}
    return ImportPreview(report=report, valid_rows=result.rows_seen - len(bad_rows))
