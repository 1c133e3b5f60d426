"""Rows as a DataFrame for `st.dataframe`, with times shown as UTC.

Streamlit reads zone-aware datetime columns through `Series.values`, which drops the zone and
which pandas 3.1 deprecates; converting them to naive UTC first shows the same times and keeps
the page free of that warning (and of its future break).
"""

from __future__ import annotations

import pandas as pd


def utc_table(rows: list[dict], columns: list[str] | None = None) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    for name in frame.columns:
        if isinstance(frame[name].dtype, pd.DatetimeTZDtype):
            frame[name] = frame[name].dt.tz_convert("UTC").dt.tz_localize(None)
    return frame
