"""Dates as people's files hold them: ISO 8601 always, and day-first, month-first or year-first
dates with `/`, `-` or `.` when the user names the format (or a column's values decide it).

A date or time without an offset is in the workspace time zone (default Asia/Kolkata) and is
stored in UTC. Nothing is guessed: a column whose dates could be read either way (every day and
month at most 12) is reported as ambiguous and the user chooses.

Written here rather than with dateutil: its parser guesses (`dayfirst` is a hint, "03/04/2022"
parses silently either way) and accepts free text; we want exactly the forms named and a reason
in our words for everything else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from crm.ingest.reading import DateFormat, Reading

# Three numbers with one separator used twice, then an optional time (24-hour, or 12-hour with
# am/pm) and an optional offset or Z.
_NUMERIC = re.compile(
    r"(?P<a>\d{1,4})(?P<sep>[/.-])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{1,4})"
    r"(?:[ T]+(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?\s*(?P<half>[AaPp]\.?[Mm]\.?)?)?"
    r"\s*(?P<offset>Z|[+-]\d{2}:?\d{2})?"
)


# A calendar day in ISO 8601, extended or basic (2024-03-01, 20240301).
_DAY_ONLY = re.compile(r"\d{4}-?\d{2}-?\d{2}")


class DateProblem(ValueError):
    """Why a text is no date of the chosen format, in our words."""


def read_date(value: str | date | datetime, reading: Reading) -> datetime:
    """A cell or JSON value -> an aware UTC datetime with millisecond precision.

    A date alone is that calendar day (midnight UTC), as rules compare days; a time without an
    offset is a time in the workspace zone."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day, tzinfo=UTC)
    else:
        parsed = _parse_text(value, reading)
        if _DAY_ONLY.fullmatch(value.strip()) or (
            (found := _NUMERIC.fullmatch(value.strip())) is not None and found.group("hour") is None
        ):
            parsed = parsed.replace(tzinfo=UTC)
    if parsed.tzinfo is None:
        # fold=0: a wall time that a clock change repeats is read as its first occurrence.
        parsed = parsed.replace(tzinfo=reading.time_zone)
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:
        raise DateProblem(f"{value!r} is out of range") from None
    return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)


def _examples(reading: Reading) -> str:
    iso = "2024-03-01 or 2024-03-01T10:30:00+05:30"
    if reading.date_format is None:
        return f"an ISO 8601 date, e.g. {iso}"
    sample = {"DD/MM/YYYY": "15/03/2024", "MM/DD/YYYY": "03/15/2024", "YYYY-MM-DD": "2024/03/15"}
    return f"a date as {reading.date_format}, e.g. {sample[reading.date_format]} (or ISO 8601, e.g. {iso})"


def _parse_text(text: str, reading: Reading) -> datetime:
    text = text.strip()
    shown = repr(text[:40])
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        iso_problem = str(exc)
    found = _NUMERIC.fullmatch(text)
    if _DAY_ONLY.fullmatch(text) or (found is not None and found.group("sep") == "-" and len(found.group("a")) == 4):
        if not iso_problem.startswith("Invalid isoformat"):  # ISO in shape: its own reason says what is wrong
            raise DateProblem(f"{shown} is not a valid date ({iso_problem})")
    if found is None or reading.date_format is None:
        if found is not None and not iso_problem.startswith("Invalid isoformat"):
            raise DateProblem(f"{shown} is not a valid date ({iso_problem})")
        hint = "" if reading.date_format or found is None else "; choose the file's date format to read it"
        raise DateProblem(f"{shown} is not {_examples(reading)}{hint}")
    a, b, c = (found.group(part) for part in "abc")
    if reading.date_format == "YYYY-MM-DD":
        year, month, day = a, b, c
    elif reading.date_format == "DD/MM/YYYY":
        day, month, year = a, b, c
    else:
        month, day, year = a, b, c
    if len(year) != 4 or len(day) > 2 or len(month) > 2:
        raise DateProblem(f"{shown} is not {_examples(reading)}: write the year with four digits")
    try:
        when = date(int(year), int(month), int(day))
    except ValueError as exc:
        raise DateProblem(f"{shown} is not a date as {reading.date_format}: {exc}") from None
    return _with_time(when, found, shown)


def _with_time(when: date, found: re.Match[str], shown: str) -> datetime:
    if found.group("hour") is None:
        if found.group("offset"):
            raise DateProblem(f"{shown}: an offset needs a time, e.g. 10:30+05:30")
        return datetime(when.year, when.month, when.day)
    hour, minute, second = int(found.group("hour")), int(found.group("minute")), int(found.group("second") or 0)
    half = (found.group("half") or "").replace(".", "").lower()
    if half:
        if not 1 <= hour <= 12:
            raise DateProblem(f"{shown}: with am/pm the hour is 1 to 12")
        hour = hour % 12 + (12 if half == "pm" else 0)
    try:
        parsed = datetime(when.year, when.month, when.day, hour, minute, second)
    except ValueError as exc:
        raise DateProblem(f"{shown} has no valid time: {exc}") from None
    offset = found.group("offset")
    if offset:
        zone = datetime.strptime("+0000" if offset == "Z" else offset.replace(":", ""), "%z").tzinfo
        parsed = parsed.replace(tzinfo=zone)
    return parsed


@dataclass(frozen=True)
class Detection:
    """What a column's values say about its date format."""

    date_format: DateFormat | None  # None: only ISO dates (or nothing to read)
    ambiguous: bool  # day-and-month dates that could be read either way: the user must choose
    evidence: str  # one sentence for the user: why this format, or why we ask


def detect_date_format(values: Iterable[str], column: str = "the column") -> Detection:
    """The format a column's values decide: a first number above 12 means day first, a second
    above 12 month first, a four-digit first number year first; otherwise we ask."""
    day_first = month_first = year_first = None
    numeric = 0
    for value in values:
        text = (value or "").strip()
        if not text:
            continue
        try:
            datetime.fromisoformat(text)
            continue
        except ValueError:
            pass
        found = _NUMERIC.fullmatch(text)
        if found is None:
            continue
        numeric += 1
        a, b = found.group("a"), found.group("b")
        if len(a) == 4:
            year_first = year_first or text
        elif int(a) > 12:
            day_first = day_first or text
        elif int(b) > 12:
            month_first = month_first or text
    if day_first and month_first:
        return Detection(
            None,
            True,
            f"{column} mixes day-first ({day_first!r}) and month-first ({month_first!r}) dates: "
            "fix the file or choose the format most rows use",
        )
    if day_first:
        return Detection("DD/MM/YYYY", False, f"{column} is day first: {day_first!r} has a day above 12")
    if month_first:
        return Detection("MM/DD/YYYY", False, f"{column} is month first: {month_first!r} has a day above 12")
    if year_first and numeric:
        return Detection("YYYY-MM-DD", False, f"{column} is year first, e.g. {year_first!r}")
    if numeric:
        return Detection(
            None,
            True,
            f"{column} has dates such as 03/04/2024 that read either way (no day above 12): "
            "choose whether the day or the month comes first",
        )
    return Detection(None, False, f"{column} holds ISO 8601 dates")
