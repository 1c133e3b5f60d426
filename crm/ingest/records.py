"""Customer and order records: the one validation path for CSV files, the CLI and the API.

Every source turns its input into plain mappings (CSV cells are strings, JSON brings numbers,
lists and objects) and calls `validate_records`. Values are normalised here, once:
strings are trimmed and an empty one means "no value"; dates become UTC datetimes with
millisecond precision (what MongoDB stores, so a re-import compares equal); amounts become
integer paise, parsed exactly from their decimal text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, ClassVar, Literal

from bson.int64 import Int64
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from crm.ingest.consent import STATUS_JSON_SCHEMA, parse_status
from crm.store.documents import Database
from crm.store.schema import IN_QUERY_CHUNK

Kind = Literal["customers", "orders"]
# One order is at most ₹10 crore: far above any real retail order, and low enough that no
# customer's total (int64 paise) can overflow before 922 million such orders.
MAX_ORDER_PAISE = 10**8 * 100  # ₹10,00,00,000 in paise
MAX_TAGS, MAX_TAG_LENGTH = 50, 64
SCAN_MIN_IDS = 2_000  # from this many distinct ids on, consider reading all ids instead


def _fail(kind: str, message: str, **ctx: Any) -> PydanticCustomError:
    return PydanticCustomError(kind, message, ctx)


# Characters no text field may hold: C0 controls (tab and line breaks too: no field is free
# text that needs them), DEL and C1 controls (ESC drives terminals), the Unicode bidi controls
# that make text display in another order than it is stored, and lone surrogates (not Unicode:
# the database cannot store them). Checked after trimming, so outer whitespace stays harmless.
_UNSAFE_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
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
    found = _UNSAFE_TEXT.search(value)
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


def _safe_text(key: str, value: str) -> None:
    why = unsafe_text(value)
    if why is not None:
        raise _fail("text_unsafe", "{why}", why=why, column=key)


def _whole_number(value: Any) -> Any:
    """JSON true/false is no number (pydantic would read true as 1)."""
    if isinstance(value, bool):
        raise _fail("int_type", "must be a whole number, not {value}", value=str(value).lower())
    return value


def _utc_datetime(value: Any) -> datetime:
    """ISO 8601 text (or a date/datetime object) -> aware UTC datetime, millisecond precision."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            why = "" if str(exc).startswith("Invalid isoformat") else f" ({exc})"
            raise _fail(
                "date",
                "{value} is not an ISO 8601 date{why}, e.g. 2024-03-01 or 2024-03-01T10:30:00+05:30",
                value=repr(value[:40]),
                why=why,
            ) from None
    else:
        raise _fail("date_type", "a date must be ISO 8601 text, e.g. 2024-03-01")
    try:
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:
        raise _fail("date", "{value} is out of range", value=repr(str(value)[:40])) from None
    return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)


_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _amount_to_paise(value: Any) -> int:
    """Rupees with at most 2 decimals -> integer paise, exactly (no binary floats on the way)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise _fail("amount_type", "an amount must be a number of rupees, e.g. 1299.50")
    text = value.strip() if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)
    if not _PLAIN_NUMBER.fullmatch(text):
        raise _fail("amount", "{value} is not a number of rupees, e.g. 1299.50", value=repr(text[:40]))
    amount = Decimal(text)
    if amount < 0:
        raise _fail("amount_negative", "the amount must not be negative (got {value})", value=repr(text[:40]))
    if amount.adjusted() > 16:
        raise _fail("amount_too_large", "the amount {value} is too large", value=repr(text[:40]))
    try:
        exact = amount == amount.quantize(Decimal("0.01"))
    except InvalidOperation:
        exact = False
    if not exact:
        raise _fail("amount_decimals", "the amount {value} has more than 2 decimals", value=repr(text[:40]))
    paise = int(amount * 100)
    if paise > MAX_ORDER_PAISE:
        raise _fail(
            "amount_too_large",
            "the amount {value} is more than ₹10 crore, the most one order may be; "
            "check the column holds rupees, not paise",
            value=repr(text[:40]),
        )
    return paise


# Plain ASCII addresses that email-validator accepts unchanged (a test checks that it agrees):
# matching them first skips its per-character Unicode checks for the common case.
_PLAIN_EMAIL = re.compile(
    r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
_SPECIAL_USE_DOMAINS = tuple(SPECIAL_USE_DOMAIN_NAMES)


def _email(value: str | None) -> str | None:
    if value is None:
        return None
    # "--" is left to email-validator: RFC 5890 reserves labels like "ab--c" (only "xn--" is allowed).
    if (
        len(value) <= 254
        and "--" not in value
        and _PLAIN_EMAIL.fullmatch(value)
        and value.index("@") <= 64
        and value.lower().rsplit(".", 1)[-1] not in _SPECIAL_USE_DOMAINS
    ):
        return value.lower()
    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise _fail(
            "email", "{value} is not a valid email address: {why}", value=repr(value[:80]), why=str(exc)
        ) from None


def _tags(value: Any) -> list[str]:
    """ "a;b" (CSV) or ["a", "b"] (JSON) -> trimmed, non-empty, without repeats, in order."""
    items: Sequence[Any]
    if isinstance(value, str):
        items = value.split(";")
    elif isinstance(value, (list, tuple)):
        items = value
        if not all(isinstance(item, str) for item in items):
            raise _fail("tags_type", 'tags must be text, e.g. ["vip", "newsletter"]')
    else:
        raise _fail("tags_type", "tags must be a list of text or text separated by ';'")
    tags = list(dict.fromkeys(tag.strip() for tag in items if tag.strip()))
    for tag in tags:
        why = unsafe_text(tag)
        if why is not None:
            raise _fail("text_unsafe", "the tag {tag} {why}", tag=ascii(tag[:40]), why=why)
    if len(tags) > MAX_TAGS or any(len(tag) > MAX_TAG_LENGTH for tag in tags):
        raise _fail("tags_size", f"at most {MAX_TAGS} tags of at most {MAX_TAG_LENGTH} characters each")
    return tags


_PHONE = re.compile(r"\+?[0-9][0-9 ()./-]{3,38}")


def _phone(value: str | None) -> str | None:
    if value is not None and not _PHONE.fullmatch(value):
        raise _fail("phone", "{value} is not a phone number (digits, spaces, + ( ) - . /)", value=repr(value[:40]))
    return value


Id = Annotated[str, StringConstraints(min_length=1, max_length=128)]
UtcDatetime = Annotated[datetime, BeforeValidator(_utc_datetime)]
Text = Annotated[str, StringConstraints(max_length=256)]


class _Record(BaseModel):
    """Shared input rules: see `_prepare`."""

    model_config = ConfigDict(extra="forbid")

    # Inputs whose empty value means "use the default" rather than "no value".
    defaulted_inputs: ClassVar[frozenset[str]] = frozenset()
    # Text fields that JSON may send as whole numbers (ids, phone numbers).
    text_inputs: ClassVar[frozenset[str]] = frozenset()
    # List fields: an empty cell is an empty list.
    list_inputs: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _prepare(cls, data: Any) -> Any:
        """Trim strings, empty -> None, reject `$` keys; ids given as whole numbers become text."""
        if isinstance(data, BaseModel):
            return data
        if not isinstance(data, Mapping):
            raise _fail("record_type", "each record must be an object of fields")
        if not all(type(key) is str and key[:1] != "$" for key in data):
            key = next(key for key in data if type(key) is not str or key[:1] == "$")
            raise _fail(
                "field_name",
                "field name {name} is not allowed (names must not start with $)",
                name=repr(str(key)[:40]),
                column=str(key)[:40],
            )
        # One comprehension for every field, then a few named ones (this runs for every row).
        prepared = {key: (value.strip() or None) if type(value) is str else value for key, value in data.items()}
        for key, value in prepared.items():
            if type(value) is str and _UNSAFE_TEXT.search(value):
                _safe_text(key, value)
        for key in cls.defaulted_inputs:
            if key in prepared and prepared[key] is None:
                del prepared[key]
        for key in cls.list_inputs:
            if key in prepared and prepared[key] is None:
                prepared[key] = []
        for key in cls.text_inputs:
            if type(prepared.get(key)) is int:
                prepared[key] = str(prepared[key])
        return cls.reshape(prepared)

    @classmethod
    def reshape(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Input shape -> model shape, after `_prepare` (a hook for subclasses)."""
        return data


def _consent_status(value: Any) -> str:
    try:
        return parse_status(value)
    except ValueError as exc:
        raise _fail("consent", str(exc)) from None


# Read through `parse_status` (words and booleans), stored as one of three; the schema says so.
ConsentStatus = Annotated[
    Literal["yes", "no", "unknown"], BeforeValidator(_consent_status), WithJsonSchema(STATUS_JSON_SCHEMA)
]


class Consent(BaseModel):
    """What the input says a customer agreed to, per channel; a channel it does not mention stays
    None (unknown for a new customer, unchanged for a stored one: see `crm.ingest.consent`)."""

    model_config = ConfigDict(extra="forbid")

    email: ConsentStatus | None = None
    sms: ConsentStatus | None = None
    whatsapp: ConsentStatus | None = None

    def carried(self) -> dict[str, str]:
        """Channel -> status, for the channels the input gave."""
        return {
            channel: getattr(self, channel) for channel in self.model_fields_set if getattr(self, channel) is not None
        }


CONSENT_COLUMNS = {f"consent_{channel}": channel for channel in Consent.model_fields}


class CustomerRecord(_Record):
    customer_id: Id
    name: Text | None = None
    email: Annotated[str | None, StringConstraints(max_length=320), AfterValidator(_email)] = None
    phone: Annotated[str | None, AfterValidator(_phone)] = None
    city: Annotated[str | None, StringConstraints(max_length=128)] = None
    gender: Annotated[str | None, StringConstraints(max_length=32)] = None
    age: Annotated[int, BeforeValidator(_whole_number), Field(ge=0, le=130)] | None = None
    signup_date: UtcDatetime | None = None
    tags: Annotated[list[str], BeforeValidator(_tags)] = Field(default_factory=list)
    consent: Consent = Field(default_factory=Consent)

    defaulted_inputs = frozenset(CONSENT_COLUMNS)
    text_inputs = frozenset({"customer_id", "phone"})
    list_inputs = frozenset({"tags"})

    @classmethod
    def reshape(cls, data: dict[str, Any]) -> dict[str, Any]:
        """CSV columns consent_email/_sms/_whatsapp -> the `consent` object."""
        if not any(key in CONSENT_COLUMNS for key in data):
            return data
        consent = data.get("consent")
        consent = dict(consent) if isinstance(consent, Mapping) else {}
        for column, channel in CONSENT_COLUMNS.items():
            if column in data:
                consent[channel] = data.pop(column)
        data["consent"] = consent
        return data


class OrderRecord(_Record):
    order_id: Id
    customer_id: Id
    amount_paise: Annotated[int, BeforeValidator(_amount_to_paise)] = Field(validation_alias="amount")
    status: Annotated[
        Literal["completed", "cancelled", "refunded"], BeforeValidator(lambda v: v.lower() if isinstance(v, str) else v)
    ] = "completed"
    order_date: UtcDatetime

    defaulted_inputs = frozenset({"status"})
    text_inputs = frozenset({"order_id", "customer_id"})


Record = CustomerRecord | OrderRecord
MODELS: dict[str, type[Record]] = {"customers": CustomerRecord, "orders": OrderRecord}
ID_FIELDS: dict[str, str] = {"customers": "customer_id", "orders": "order_id"}
# Input fields of each kind (what a CSV column or JSON key may be called), required first.
INPUT_FIELDS: dict[str, list[str]] = {
    "customers": [
        "customer_id",
        "name",
        "email",
        "phone",
        "city",
        "gender",
        "age",
        "signup_date",
        "tags",
        *CONSENT_COLUMNS,
    ],
    "orders": ["order_id", "customer_id", "amount", "status", "order_date"],
}
REQUIRED_FIELDS: dict[str, list[str]] = {
    "customers": ["customer_id"],
    "orders": ["order_id", "customer_id", "amount", "order_date"],
}


@dataclass(frozen=True)
class RowError:
    """One problem with one input row: `row` as the source numbers it, `column` as it names it."""

    row: int
    column: str
    reason: str


@dataclass
class RowProblem:
    """A row the reader could not even turn into fields (e.g. a wrong number of cells)."""

    column: str
    reason: str


@dataclass
class ValidationResult:
    valid: list[Record]
    errors: list[RowError]
    rows_seen: int
    rows: list[int] = field(default_factory=list)  # the source row of each valid record


# Plainer words than pydantic's for the errors users meet most.
_MESSAGES = {
    "missing": "required field is missing",
    "extra_forbidden": "unknown field",
    "string_type": "must be text",
    "string_too_short": "must not be empty",
}


def _row_errors(row: int, exc: ValidationError, kind: str) -> list[RowError]:
    errors = []
    for err in exc.errors(include_url=False):
        column = ".".join(str(part) for part in err["loc"]) or str((err.get("ctx") or {}).get("column", ""))
        reason = _MESSAGES.get(err["type"], err["msg"])
        if err.get("input", "") is None:
            reason = "required field is empty"
        if err["type"] == "extra_forbidden" and len(err["loc"]) == 1:
            reason += f" (fields of {kind}: {', '.join(INPUT_FIELDS[kind])})"
        errors.append(RowError(row, column, reason))
    return errors


def validate_records(
    kind: Kind, rows: Iterable[Mapping[str, Any] | RowProblem | None], first_row: int = 1
) -> ValidationResult:
    """Validate a batch: per-row errors, plus a repeated id (the later row is the error).

    Rows are numbered from `first_row` (the API uses 0: the item index; CSV files 2: the row a
    spreadsheet shows under its header).
    """
    if kind not in MODELS:
        raise ValueError(f"kind must be 'customers' or 'orders', not {kind!r}")
    validate = MODELS[kind].model_validate
    id_field = ID_FIELDS[kind]
    valid: list[Record] = []
    source_rows: list[int] = []
    errors: list[RowError] = []
    first_seen: dict[str, int] = {}
    row = first_row - 1
    for row, data in enumerate(rows, start=first_row):
        if data is None:  # a blank line of a file: nothing to import, but it keeps its number
            continue
        if isinstance(data, RowProblem):
            errors.append(RowError(row, data.column, data.reason))
            continue
        try:
            record = validate(data)
        except ValidationError as exc:
            errors.extend(_row_errors(row, exc, kind))
            continue
        key = getattr(record, id_field)
        earlier = first_seen.setdefault(key, row)
        if earlier != row:
            errors.append(RowError(row, id_field, f"duplicate {id_field} {key!r}: same as row {earlier}"))
            continue
        valid.append(record)
        source_rows.append(row)
    return ValidationResult(valid=valid, errors=errors, rows_seen=row - first_row + 1, rows=source_rows)


def check_customers_exist(db: Database, records: Sequence[Record], rows: Sequence[int] | None = None) -> list[RowError]:
    """Orders whose customer is not in the database, one error each.

    `rows` gives each record's source row (`ValidationResult.rows`); without it the row is the
    record's index in `records`.
    """
    wanted = list(dict.fromkeys(record.customer_id for record in records))
    known: set[str] = set()
    if len(wanted) >= SCAN_MIN_IDS and 2 * len(wanted) >= db.customers.estimated_document_count():
        # Asking for most of the collection: reading every id once is ~8x faster than
        # thousands of small $in queries (measured on the embedded server).
        cursor = db.customers.find({}, {"customer_id": 1, "_id": 0}).batch_size(10_000)
        known.update(doc["customer_id"] for doc in cursor)
    else:
        for start in range(0, len(wanted), IN_QUERY_CHUNK):
            chunk = wanted[start : start + IN_QUERY_CHUNK]
            cursor = db.customers.find({"customer_id": {"$in": chunk}}, {"customer_id": 1, "_id": 0})
            known.update(doc["customer_id"] for doc in cursor)
    rows = rows if rows is not None else range(len(records))
    return [
        RowError(row, "customer_id", f"unknown customer {record.customer_id!r}: import the customer first")
        for row, record in zip(rows, records)
        if record.customer_id not in known
    ]


def record_to_document(record: CustomerRecord | OrderRecord) -> dict[str, Any]:
    """The MongoDB document of a record (without created_at/updated_at, which the writer sets)."""
    doc = record.model_dump()
    if isinstance(record, OrderRecord):
        doc["amount"] = Int64(doc.pop("amount_paise"))
    return doc
