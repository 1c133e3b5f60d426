"""How an input's values are read where the text alone cannot say: the format of dates that are
not ISO 8601, the time zone of dates and times written without an offset, and the country of
phone numbers written without a +country code. The edges build it from the workspace's settings
(and, for a file, the date format its user chose) and pass it down to validation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from typing import Literal
from zoneinfo import ZoneInfo

from crm.config import Settings

DateFormat = Literal["DD/MM/YYYY", "MM/DD/YYYY", "YYYY-MM-DD"]
DATE_FORMATS: tuple[DateFormat, ...] = ("DD/MM/YYYY", "MM/DD/YYYY", "YYYY-MM-DD")


@dataclass(frozen=True)
class Reading:
    date_format: DateFormat | None = None  # None: ISO 8601 only
    time_zone: tzinfo = ZoneInfo("Asia/Kolkata")
    phone_region: str = "IN"

    @property
    def zone_name(self) -> str:
        return str(getattr(self.time_zone, "key", self.time_zone))

    def describe(self) -> str:
        """One sentence for an import's report."""
        form = f"ISO 8601 or {self.date_format}" if self.date_format else "ISO 8601"
        return (
            f"Dates are read as {form}; a date alone is that calendar day, and a time without an "
            f"offset is in {self.zone_name}, stored in UTC."
        )


def workspace_reading(settings: Settings, date_format: DateFormat | None = None) -> Reading:
    """How this workspace reads values: its time zone and phone region, and the given date format."""
    return Reading(date_format, ZoneInfo(settings.time_zone), settings.phone_region)
