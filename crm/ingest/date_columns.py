"""Which date format a CSV file's date columns are in: decided by their values where they can
decide (a day above 12), asked of the user where they cannot, never guessed."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from crm.ingest.csv_import import Source, read_rows
from crm.ingest.dates import Detection, detect_date_format
from crm.ingest.reading import DateFormat

DATE_FIELDS = ("signup_date", "order_date")
SCANNED_ROWS = 100_000  # enough to meet a day above 12 in any real file; bounded for huge ones


@dataclass(frozen=True)
class FileDates:
    """The file's date columns and what their values say."""

    columns: dict[str, Detection]  # the file's column name -> its detection

    @property
    def date_format(self) -> DateFormat | None:
        """The one format the columns decide (None: ISO only, or undecided)."""
        found = {d.date_format for d in self.columns.values() if d.date_format}
        return found.pop() if len(found) == 1 and not self.ambiguous else None

    @property
    def ambiguous(self) -> bool:
        """True when the user must choose: a column reads either way, or columns disagree."""
        found = {d.date_format for d in self.columns.values() if d.date_format}
        return len(found) > 1 or any(d.ambiguous for d in self.columns.values())

    def explain(self) -> str:
        """Why this format, or why the user must choose, in one or two sentences."""
        return "; ".join(d.evidence for d in self.columns.values() if d.date_format or d.ambiguous)


def detect_file_dates(source: Source, mapping: dict[str, str], date_attributes: Collection[str] = ()) -> FileDates:
    """Read the mapped date columns of the file (up to SCANNED_ROWS rows) and detect each;
    `date_attributes`: the names (attr.<key>) of custom attributes that hold dates."""
    dated = {*DATE_FIELDS, *date_attributes}
    date_columns = {our: column for column, our in mapping.items() if our in dated}
    if not date_columns:
        return FileDates({})
    seen: dict[str, list[str]] = {our: [] for our in date_columns}
    for number, row in enumerate(read_rows(source, {column: our for our, column in date_columns.items()})):
        if number == SCANNED_ROWS:
            break
        if isinstance(row, dict):
            for our, cell in row.items():
                seen[our].append(cell)
    return FileDates(
        {column: detect_date_format(seen[our], f"column {column!r}") for our, column in date_columns.items()}
    )
