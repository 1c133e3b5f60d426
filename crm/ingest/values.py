"""Reading one value of an input row: text, whole numbers, dates, amounts, emails, tags, phones and
consent, each refused with a reason in our words (a pydantic error the row report shows)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

import phonenumbers
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from pydantic import (
    BeforeValidator,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from crm.formats.gender import UnknownGender, normalise_gender
from crm.ingest.consent import STATUS_JSON_SCHEMA, parse_status
from crm.ingest.dates import DateProblem, read_date
from crm.ingest.reading import Reading

# One order is at most ₹10 crore: far above any real retail order, and low enough that no
# customer's total (int64 paise) can overflow before 922 million such orders.
MAX_ORDER_PAISE = 10**8 * 100  # ₹10,00,00,000 in paise
MAX_TAGS, MAX_TAG_LENGTH = 50, 64


def fail(kind: str, message: str, **ctx: Any) -> PydanticCustomError:
    return PydanticCustomError(kind, message, ctx)


# Characters no text field may hold: C0 controls (tab and line breaks too: no field is free
# text that needs them), DEL and C1 controls (ESC drives terminals), the Unicode bidi controls
# that make text display in another order than it is stored, and lone surrogates (not Unicode:
# the database cannot store them). Checked after trimming, so outer whitespace stays harmless.
UNSAFE_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_CHARACTER_NAMES = {
    0x00: "NUL",
    0x09: "tab",
    0x0A: "line feed",
    0x0D: "carriage return",
    0x1B: "ESC",
    0x7F: "DEL",
    0x200E: "left-to-right mark",
    0x200F: "right-to-left mark",
    0x202E: "right-to-left override",
    0x202D: "left-to-right override",
}


def unsafe_text(value: str) -> str | None:
    """Why `value` may not be stored as text (None: it may)."""
    found = UNSAFE_TEXT.search(value)
    if found is None:
        return None
    code = ord(found.group())
    name = _CHARACTER_NAMES.get(code) or (
        "a lone surrogate" if 0xD800 <= code <= 0xDFFF else "a bidi control" if code > 0x9F else "a control character"
    )
    return (
        f"contains {name} (U+{code:04X}) at position {found.start() + 1}; text fields may not hold "
        "control characters, bidi controls or lone surrogates"
    )


def check_safe_text(key: str, value: str) -> None:
    why = unsafe_text(value)
    if why is not None:
        raise fail("text_unsafe", "{why}", why=why, column=key)


def whole_number(value: Any) -> Any:
    """JSON true/false is no number (pydantic would read true as 1)."""
    if isinstance(value, bool):
        raise fail("whole_number", "must be a whole number, not {value}", value=str(value).lower())
    return value


def utc_datetime(value: Any, info: ValidationInfo) -> datetime:
    """ISO 8601 text (or the import's chosen format, or a date/datetime object) -> aware UTC
    datetime, millisecond precision; read as the validation context's `reading` says."""
    reading = (info.context or {}).get("reading") or Reading()
    if not isinstance(value, str | date):
        raise fail("date_type", "a date must be ISO 8601 text, e.g. 2024-03-01")
    try:
        return read_date(value, reading)
    except DateProblem as exc:
        raise fail("date", "{why}", why=str(exc)) from None


_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
# ₹, Rs, Rs. or INR before or after the number (any case, spaces allowed between).
_CURRENCY = re.compile(r"^(?:₹|rs\.?|inr)\s*(?P<front>.*)$|^(?P<back>.*?)\s*(?:₹|rs\.?|inr)$", re.IGNORECASE)
# Grouping: Western puts a comma every three digits (125,000.50); Indian before the last three
# and then every two (1,25,000.50). A number that fits neither is refused, never read as typed.
_WESTERN = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d*)?")
_INDIAN = re.compile(r"\d{1,2}(?:,\d{2})*,\d{3}(?:\.\d*)?")


def rupees_text(text: str) -> str:
    """A rupee amount as written in bills and exports -> plain decimal text (1,25,000.50 ->
    125000.50); text that is not such an amount comes back unchanged, to be refused."""
    text = text.removesuffix("/-").strip()  # "Rs. 500/-": the Indian way of writing "no paise"
    found = _CURRENCY.match(text)
    if found is not None:
        text = (found.group("front") if found.group("front") is not None else found.group("back")).strip()
        text = text.removesuffix("/-").strip()
    sign, digits = (text[0], text[1:]) if text[:1] in "+-" else ("", text)
    if "," not in digits:
        return text
    if not (_WESTERN.fullmatch(digits) or _INDIAN.fullmatch(digits)):
        raise fail(
            "amount_grouping",
            "{value} has its commas in the wrong places: write 125,000.50 (every three digits), "
            "1,25,000.50 (Indian: three, then every two) or 125000.50",
            value=repr(text[:40]),
        )
    return sign + digits.replace(",", "")


def amount_to_paise(value: Any) -> int:
    """Rupees with at most 2 decimals -> integer paise, exactly (no binary floats on the way).
    Text may carry ₹, Rs, Rs. or INR and Western or Indian grouping."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise fail("amount_type", "an amount must be a number of rupees, e.g. 1299.50")
    text = value.strip() if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)
    if not _PLAIN_NUMBER.fullmatch(text):
        text = rupees_text(text)
    if not _PLAIN_NUMBER.fullmatch(text):
        raise fail(
            "amount",
            "{value} is not a number of rupees, e.g. 1299.50, ₹1,299.50 or Rs. 1,25,000",
            value=repr(text[:40]),
        )
    amount = Decimal(text)
    if amount < 0:
        raise fail("amount_negative", "the amount must not be negative (got {value})", value=repr(text[:40]))
    if amount.adjusted() > 16:
        raise fail("amount_too_large", "the amount {value} is too large", value=repr(text[:40]))
    try:
        exact = amount == amount.quantize(Decimal("0.01"))
    except InvalidOperation:
        exact = False
    if not exact:
        raise fail("amount_decimals", "the amount {value} has more than 2 decimals", value=repr(text[:40]))
    paise = int(amount * 100)
    if paise > MAX_ORDER_PAISE:
        raise fail(
            "amount_too_large",
            "the amount {value} is more than ₹10 crore, the most one order may be; "
            "check the column holds rupees, not paise",
            value=repr(text[:40]),
        )
    return paise


# Plain ASCII addresses that email-validator accepts unchanged (a test checks that it agrees):
# matching them first skips its per-character Unicode checks for the common case.
PLAIN_EMAIL = re.compile(
    r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
_SPECIAL_USE_DOMAINS = tuple(SPECIAL_USE_DOMAIN_NAMES)


def email(value: str | None) -> str | None:
    if value is None:
        return None
    # "--" is left to email-validator: RFC 5890 reserves labels like "ab--c" (only "xn--" is allowed).
    if (
        len(value) <= 254
        and "--" not in value
        and PLAIN_EMAIL.fullmatch(value)
        and value.index("@") <= 64
        and value.lower().rsplit(".", 1)[-1] not in _SPECIAL_USE_DOMAINS
    ):
        return value.lower()
    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise fail(
            "email", "{value} is not a valid email address: {why}", value=repr(value[:80]), why=str(exc)
        ) from None


def tags(value: Any) -> list[str]:
    """ "a;b" (CSV) or ["a", "b"] (JSON) -> trimmed, non-empty, without repeats, in order."""
    items: Sequence[Any]
    if isinstance(value, str):
        items = value.split(";")
    elif isinstance(value, (list, tuple)):
        items = value
        if not all(isinstance(item, str) for item in items):
            raise fail("tags_type", 'tags must be text, e.g. ["vip", "newsletter"]')
    else:
        raise fail("tags_type", "tags must be a list of text or text separated by ';'")
    tags = list(dict.fromkeys(tag.strip() for tag in items if tag.strip()))
    for tag in tags:
        why = unsafe_text(tag)
        if why is not None:
            raise fail("text_unsafe", "the tag {tag} {why}", tag=ascii(tag[:40]), why=why)
    if len(tags) > MAX_TAGS or any(len(tag) > MAX_TAG_LENGTH for tag in tags):
        raise fail("tags_size", f"at most {MAX_TAGS} tags of at most {MAX_TAG_LENGTH} characters each")
    return tags


_PHONE = re.compile(r"[(]?\+?[0-9][0-9 ()./-]{3,38}")


# Indian mobile numbers as most files write them (+91 98765 43210, 098765-43210, 9876543210):
# libphonenumber holds every ten-digit number from 6 to 9 valid (a test checks that it agrees),
# and its parser is two thirds of the time of validating a customer, so these skip it.
INDIAN_MOBILE = re.compile(r"(?:\+91[ -]?|0)?([6-9]\d{4})[ -]?(\d{5})")


def e164(value: str, region: str) -> str | None:
    """A phone number as people write it -> E.164 (+919876543210), read in `region` when it has
    no +country code; None when it is no valid number."""
    mobile = INDIAN_MOBILE.fullmatch(value)
    if mobile is not None and (region == "IN" or value.startswith("+")):
        return f"+91{mobile.group(1)}{mobile.group(2)}"
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone(value: str | None, info: ValidationInfo) -> str | None:
    """Stored as E.164 (`e164`), so one person's number in two files is one number; without a
    +country code it is read in the workspace's region."""
    if value is None:
        return None
    if not _PHONE.fullmatch(value):
        raise fail("phone", "{value} is not a phone number (digits, spaces, + ( ) - . /)", value=repr(value[:40]))
    region = ((info.context or {}).get("reading") or Reading()).phone_region
    stored = e164(value, region)
    if stored is None:
        raise fail(
            "phone",
            "{value} is not a valid phone number of {region}; check its digits, or write it with its "
            "country code, e.g. +91 98765 43210",
            value=repr(value[:40]),
            region=region,
        )
    return stored


def gender(value: str | None) -> str | None:
    """F, Woman, Mahila -> female (see `crm.formats.gender`); "prefer not to say" -> no value."""
    if value is None:
        return None
    try:
        return normalise_gender(value)
    except UnknownGender as exc:
        raise fail("gender", "{why}", why=str(exc)) from None


Id = Annotated[str, StringConstraints(min_length=1, max_length=128)]
UtcDatetime = Annotated[datetime, BeforeValidator(utc_datetime)]
Text = Annotated[str, StringConstraints(max_length=256)]


def consent_status(value: Any) -> str:
    try:
        return parse_status(value)
    except ValueError as exc:
        raise fail("consent", str(exc)) from None


# Read through `parse_status` (words and booleans), stored as one of three; the schema says so.
ConsentStatus = Annotated[
    Literal["yes", "no", "unknown"], BeforeValidator(consent_status), WithJsonSchema(STATUS_JSON_SCHEMA)
]
