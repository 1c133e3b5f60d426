"""How busy each day of the year is for an Indian retailer: festive season, sales, weekends.

The weights are relative (1.0 = an ordinary weekday). They drive both when orders happen and,
mildly, how large they are.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

# Diwali (Lakshmi Puja) moves with the lunar calendar; festive-season sales peak in the weeks
# before it. Years not listed fall back to 1 November, close enough for demo data.
DIWALI = {
    2020: date(2020, 11, 14),
    2021: date(2021, 11, 4),
    2022: date(2022, 10, 24),
    2023: date(2023, 11, 12),
    2024: date(2024, 11, 1),
    2025: date(2025, 10, 21),
    2026: date(2026, 11, 8),
    2027: date(2027, 10, 29),
    2028: date(2028, 10, 17),
    2029: date(2029, 11, 5),
    2030: date(2030, 10, 26),
}

# (month, first day, last day, weight): sales most Indian retailers run every year.
SALES = [
    (1, 1, 7, 1.4),  # end-of-season sale
    (1, 20, 26, 1.5),  # Republic Day sale
    (7, 10, 20, 1.4),  # end-of-season sale
    (8, 8, 15, 1.5),  # Independence Day sale
    (12, 24, 31, 1.3),  # year-end sale
]

WEEKEND_WEIGHT = 1.15


def diwali(year: int) -> date:
    return DIWALI.get(year, date(year, 11, 1))


def day_weights(first: date, days: int) -> np.ndarray:
    """Relative order volume for each of `days` consecutive days starting at `first`."""
    dates = [first + timedelta(days=i) for i in range(days)]
    weights = np.ones(days)
    for i, d in enumerate(dates):
        to_diwali = (diwali(d.year) - d).days
        if 0 <= to_diwali <= 24:
            # The run-up to Diwali: the big online sales, rising to the festival.
            weights[i] *= 1.8 + 1.4 * (1 - to_diwali / 24)
        elif -7 <= to_diwali < 0:
            weights[i] *= 1.5  # Bhai Dooj and after-Diwali offers
        for month, lo, hi, weight in SALES:
            if d.month == month and lo <= d.day <= hi:
                weights[i] *= weight
        if d.weekday() >= 5:
            weights[i] *= WEEKEND_WEIGHT
    return weights
