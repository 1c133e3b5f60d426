"""Words the offline parser reads: numbers, money, durations, dates, comparatives.

Everything here turns text into numbers or dates deterministically; nothing decides which field a
phrase is about (that is `offline_parser`).
"""

from __future__ import annotations

import calendar
import re
from datetime import date

NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "ninety": 90,
    "hundred": 100,
    "couple of": 2,
    "a couple of": 2,
    "half a": 0.5,
}
# Multipliers of amounts, Indian and international.
SCALES = {
    "k": 1_000,
    "thousand": 1_000,
    "l": 100_000,
    "lac": 100_000,
    "lacs": 100_000,
    "lakh": 100_000,
    "lakhs": 100_000,
    "cr": 10_000_000,
    "crore": 10_000_000,
    "crores": 10_000_000,
    "m": 1_000_000,
    "mn": 1_000_000,
    "million": 1_000_000,
}
DAYS_PER = {
    "day": 1,
    "days": 1,
    "week": 7,
    "weeks": 7,
    "fortnight": 14,
    "fortnights": 14,
    "month": 30,
    "months": 30,
    "quarter": 90,
    "quarters": 90,
    "year": 365,
    "years": 365,
    "yr": 365,
    "yrs": 365,
    "mo": 30,
    "mos": 30,
    "wk": 7,
    "wks": 7,
}
MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
MONTHS["sept"] = 9

_NUM = r"\d+(?:\.\d+)?"
_WORD_NUM = "|".join(sorted((re.escape(w) for w in NUMBER_WORDS), key=len, reverse=True))
QUANTITY = rf"(?:{_NUM}|{_WORD_NUM})"
_SCALE = "|".join(sorted(SCALES, key=len, reverse=True))
AMOUNT = rf"{_NUM}\s*(?:{_SCALE})?\b"
UNIT = "|".join(sorted(DAYS_PER, key=len, reverse=True))
DURATION = re.compile(rf"\b(?:(?P<n>{QUANTITY})\s*)?(?P<unit>{UNIT})\b")

# Comparatives: words -> operator. Longest phrases first so "no more than" beats "more than".
COMPARATIVES = {
    ">": (
        "more than",
        "greater than",
        "higher than",
        "over",
        "above",
        "exceeding",
        "exceeds",
        "beyond",
        "upwards of",
        "north of",
        "bigger than",
        "larger than",
        ">",
    ),
    ">=": (
        "at least",
        "atleast",
        "minimum of",
        "minimum",
        "min",
        "no less than",
        "not less than",
        "no fewer than",
        "not below",
        "from",
        ">=",
    ),
    "<": ("less than", "fewer than", "lower than", "under", "below", "smaller than", "<"),
    "<=": (
        "at most",
        "atmost",
        "up to",
        "upto",
        "maximum of",
        "maximum",
        "max",
        "no more than",
        "not more than",
        "not over",
        "not above",
        "<=",
    ),
    "=": ("exactly", "equal to", "equals", "only", "="),
}
_COMPARATIVE = sorted(((p, op) for op, ps in COMPARATIVES.items() for p in ps), key=lambda x: -len(x[0]))
SUFFIX_COMPARATIVES = {
    ">=": ("or more", "and above", "and more", "or above", "plus", "+"),
    "<=": ("or less", "and below", "or fewer", "and less", "or below"),
}


def quantity(text: str) -> float:
    text = text.strip()
    return NUMBER_WORDS[text] if text in NUMBER_WORDS else float(text)


def amount(text: str) -> float:
    """'5k' -> 5000, '1.5 lakh' -> 150000, '2 cr' -> 20000000 (commas already removed)."""
    match = re.fullmatch(rf"({_NUM})\s*({_SCALE})?", text.strip())
    if not match:
        raise ValueError(text)
    return float(match.group(1)) * SCALES.get(match.group(2) or "", 1)


def days_of(match: re.Match) -> int:
    n = quantity(match.group("n")) if match.group("n") else 1
    return round(n * DAYS_PER[match.group("unit")])


def comparative_before(text: str, end: int) -> tuple[str, int] | None:
    """The comparative ending right before `end` (spaces allowed), and where it starts."""
    head = text[:end].rstrip()
    for phrase, op in _COMPARATIVE:
        if head.endswith(phrase) and (
            len(head) == len(phrase) or not head[-len(phrase) - 1].isalnum() or not phrase[0].isalnum()
        ):
            return op, len(head) - len(phrase)
    return None


def comparative_after(text: str, start: int) -> tuple[str, int] | None:
    """A suffix comparative ("or more", "+") right after `start`, and where it ends."""
    tail = text[start:]
    stripped = tail.lstrip()
    for op, phrases in SUFFIX_COMPARATIVES.items():
        for phrase in phrases:
            if stripped.startswith(phrase) and (
                len(stripped) == len(phrase) or not phrase[-1].isalnum() or not stripped[len(phrase)].isalnum()
            ):
                return op, start + (len(tail) - len(stripped)) + len(phrase)
    return None


DATE_PATTERNS = (
    re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})\b"),
    re.compile(rf"\b(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<mon>{'|'.join(MONTHS)})\.?,?\s+(?P<y>\d{{4}})\b"),
    re.compile(rf"\b(?P<mon>{'|'.join(MONTHS)})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y>\d{{4}})\b"),
    re.compile(rf"\b(?P<mon>{'|'.join(MONTHS)})\.?,?\s+(?P<y>\d{{4}})\b"),
    re.compile(rf"\b(?P<mon>{'|'.join(MONTHS)})\b"),
    re.compile(r"\b(?P<y>20\d{2}|19\d{2})\b"),
)


def find_date(text: str, today: date) -> tuple[date, re.Match] | None:
    """The first date in the text: ISO, '5 Jan 2024', 'January 2024' (its first day), 'March'
    (the latest 1 March not after today) or a year (1 January)."""
    for pattern in DATE_PATTERNS:
        match = pattern.search(text)
        if not match:
            continue
        parts = match.groupdict()
        month = int(parts["m"]) if parts.get("m") else MONTHS.get(parts.get("mon") or "", 1)
        day = int(parts.get("d") or 1)
        year = int(parts["y"]) if parts.get("y") else today.year
        if not parts.get("y") and (month, day) > (today.month, today.day):
            year -= 1
        try:
            return date(year, month, day), match
        except ValueError:
            continue
    return None
