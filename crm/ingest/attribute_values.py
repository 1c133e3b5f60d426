"""A customer's custom attribute values, read by the kind each attribute was registered with.

CSV cells are text; JSON may bring numbers, true/false and lists. What is stored: text, a float,
an aware UTC datetime (a date alone is that calendar day, as for built-in dates), a bool, or a
list of text. An empty value clears the attribute (stored as null, i.e. missing).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic_core import PydanticCustomError

from crm.ingest import values
from crm.ingest.dates import DateProblem, read_date
from crm.ingest.reading import Reading
from crm.segment_engine.attributes import Attribute

MAX_TEXT = 200  # as a rule's text value: every stored value can be matched
MAX_ITEMS, MAX_ITEM_LENGTH = 100, 100
MAX_NUMBER = 10**15
_YES = frozenset({"yes", "y", "true", "t", "1", "haan", "ha"})
_NO = frozenset({"no", "n", "false", "f", "0", "nahi", "nahin"})


def read_attributes(
    given: Mapping[str, Any], registry: Sequence[Attribute], reading: Reading
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The stored values of `given` (key -> value), and (key, reason) for each one refused."""
    known = {a.key: a for a in registry}
    stored: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for key, value in given.items():
        attribute = known.get(key)
        if attribute is None:
            names = ", ".join(known) or "none yet"
            problems.append(
                (
                    key,
                    f"{key!r} is not an attribute of this workspace (registered: {names}); register it on "
                    'the Data page or with import --attribute "Label=type"',
                )
            )
            continue
        try:
            stored[key] = attribute_value(attribute, value, reading)
        except PydanticCustomError as exc:
            problems.append((key, exc.message()))
    return stored, problems


def attribute_value(attribute: Attribute, value: Any, reading: Reading) -> Any:
    if isinstance(value, str):
        value = value.strip()
        why = values.unsafe_text(value)
        if why is not None:
            raise values.fail("text_unsafe", "{value} {why}", value=ascii(value[:40]), why=why)
    if value is None or value == "" or value == []:
        return [] if attribute.kind == "list" else None
    reader = {"text": _text, "number": _number, "date": _date, "yes/no": _yes_no, "list": _list}[attribute.kind]
    return reader(value, reading)


def _text(value: Any, reading: Reading) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise values.fail("attribute_text", 'must be text, e.g. "Gold"')
    if len(value) > MAX_TEXT:
        raise values.fail("attribute_text", f"is {len(value)} characters long; at most {MAX_TEXT} are allowed")
    return value


def _number(value: Any, reading: Reading) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise values.fail("attribute_number", "must be a number, e.g. 4.5 or 1,200")
    text = repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        text = values.rupees_text(text)  # 1,200 and 1,25,000 read as people write them
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise values.fail(
            "attribute_number", "{value} is not a number, e.g. 4.5 or 1,200", value=repr(text[:40])
        ) from None
    if not number.is_finite() or abs(number) > MAX_NUMBER or not math.isfinite(float(number)):
        raise values.fail("attribute_number", "{value} is out of range", value=repr(text[:40]))
    return float(number)


def _date(value: Any, reading: Reading) -> Any:
    if not isinstance(value, str):
        raise values.fail("attribute_date", "must be a date, e.g. 2024-03-01")
    try:
        return read_date(value, reading)
    except DateProblem as exc:
        raise values.fail("attribute_date", "{why}", why=str(exc)) from None


def _yes_no(value: Any, reading: Reading) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower() if isinstance(value, (str, int)) else None
    if word in _YES:
        return True
    if word in _NO:
        return False
    raise values.fail(
        "attribute_yes_no", "{value} is not yes or no (yes/no, y/n, true/false, 1/0)", value=repr(value)[:40]
    )


def _list(value: Any, reading: Reading) -> list[str]:
    if isinstance(value, str):
        items: Sequence[Any] = value.split(";")
    elif isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        items = value
    else:
        raise values.fail(
            "attribute_list", 'must be a list of text, e.g. ["Andheri", "Bandra"], or text separated by ";"'
        )
    kept = list(dict.fromkeys(item.strip() for item in items if item.strip()))
    for item in kept:
        why = values.unsafe_text(item)
        if why is not None:
            raise values.fail("text_unsafe", "the value {value} {why}", value=ascii(item[:40]), why=why)
    if len(kept) > MAX_ITEMS or any(len(item) > MAX_ITEM_LENGTH for item in kept):
        raise values.fail("attribute_list", f"at most {MAX_ITEMS} values of at most {MAX_ITEM_LENGTH} characters each")
    return kept
