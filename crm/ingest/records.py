"""Customer and order records: the one validation path for CSV files, the CLI and the API.

Every source turns its input into plain mappings (CSV cells are strings, JSON brings numbers,
lists and objects) and calls `validate_records`. Values are normalised here, once:
strings are trimmed and an empty one means "no value"; dates become UTC datetimes with
millisecond precision (what MongoDB stores, so a re-import compares equal); amounts become
integer paise, parsed exactly from their decimal text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

from bson.int64 import Int64
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from crm.ingest import values
from crm.ingest.attribute_values import read_attributes
from crm.ingest.reading import Reading
from crm.ingest.values import ConsentStatus, Id, Text, UtcDatetime
from crm.segment_engine.attributes import PREFIX as ATTRIBUTE_PREFIX
from crm.segment_engine.attributes import Attribute
from crm.store.documents import Database
from crm.store.schema import IN_QUERY_CHUNK

Kind = Literal["customers", "orders"]
SCAN_MIN_IDS = 2_000  # from this many distinct ids on, consider reading all ids instead


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
            raise values.fail("record_type", "each record must be an object of fields")
        if not all(type(key) is str and key[:1] != "$" for key in data):
            key = next(key for key in data if type(key) is not str or key[:1] == "$")
            raise values.fail(
                "field_name",
                "field name {name} is not allowed (names must not start with $)",
                name=repr(str(key)[:40]),
                column=str(key)[:40],
            )
        # One comprehension for every field, then a few named ones (this runs for every row).
        prepared = {key: (value.strip() or None) if type(value) is str else value for key, value in data.items()}
        for key, value in prepared.items():
            if type(value) is str and values.UNSAFE_TEXT.search(value):
                values.check_safe_text(key, value)
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
    email: Annotated[str | None, StringConstraints(max_length=320), AfterValidator(values.email)] = None
    phone: Annotated[str | None, AfterValidator(values.phone)] = None
    city: Annotated[str | None, StringConstraints(max_length=128)] = None
    gender: Annotated[str | None, StringConstraints(max_length=32), AfterValidator(values.gender)] = None
    age: Annotated[int, BeforeValidator(values.whole_number), Field(ge=0, le=130)] | None = None
    signup_date: UtcDatetime | None = None
    tags: Annotated[list[str], BeforeValidator(values.tags)] = Field(default_factory=list)
    consent: Consent = Field(default_factory=Consent)
    # Custom attributes (key -> value), read by their registered kinds in `validate_records`.
    attributes: dict[str, Any] = Field(default_factory=dict)

    defaulted_inputs = frozenset(CONSENT_COLUMNS)
    text_inputs = frozenset({"customer_id", "phone"})
    list_inputs = frozenset({"tags"})

    @classmethod
    def reshape(cls, data: dict[str, Any]) -> dict[str, Any]:
        """CSV columns consent_email/_sms/_whatsapp -> the `consent` object; columns mapped to
        attr.<key> -> the `attributes` object."""
        if "attributes" in data and data["attributes"] is None:  # JSON null: no attributes given
            del data["attributes"]
        if any(key.startswith(ATTRIBUTE_PREFIX) for key in data):
            given = data.get("attributes")
            attributes = dict(given) if isinstance(given, Mapping) else {}
            for key in [k for k in data if k.startswith(ATTRIBUTE_PREFIX)]:
                attributes[key[len(ATTRIBUTE_PREFIX) :]] = data.pop(key)
            data["attributes"] = attributes
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
    amount_paise: Annotated[int, BeforeValidator(values.amount_to_paise)] = Field(validation_alias="amount")
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


# Our words for pydantic's checks (its own read "Input should be ..."); each names the value.
_MESSAGES = {
    "missing": "required field is missing",
    "extra_forbidden": "unknown field",
    "string_type": "must be text",
    "string_too_short": "must not be empty",
    "int_type": "must be a whole number",
    "int_parsing": "{value} is not a whole number, e.g. 35",
    "int_from_float": "{value} is not a whole number: it has decimals",
    "greater_than_equal": "{value} is less than {ge}, the least allowed",
    "less_than_equal": "{value} is more than {le}, the most allowed",
    "string_too_long": "is {length} characters long; at most {max_length} are allowed",
    "literal_error": "{value} is not one of {expected}",
    "model_type": "must be an object of fields",
    "dict_type": "must be an object of fields",
    "model_attributes_type": "must be an object of fields",
    "list_type": "must be a list",
}


def _reason(err: Any) -> str:
    """One pydantic error in our words: what is wrong, with the value and what is accepted."""
    if err.get("input", "") is None:
        return "required field is empty"
    template = _MESSAGES.get(err["type"])
    if template is None:
        return str(err["msg"])
    given = err.get("input")
    shown = repr(given[:40]) if isinstance(given, str) else repr(given)
    ctx = {key: str(value) for key, value in (err.get("ctx") or {}).items()}
    length = len(given) if isinstance(given, str) else 0
    try:
        return template.format_map({**ctx, "value": shown, "length": length})
    except KeyError:  # a check of ours that reused the type name: its message is ours already
        return str(err["msg"])


def _row_errors(row: int, exc: ValidationError, kind: str) -> list[RowError]:
    errors = []
    for err in exc.errors(include_url=False):
        column = ".".join(str(part) for part in err["loc"]) or str((err.get("ctx") or {}).get("column", ""))
        reason = _reason(err)
        if err["type"] == "extra_forbidden" and len(err["loc"]) == 1:
            reason += f" (fields of {kind}: {', '.join(INPUT_FIELDS[kind])})"
        errors.append(RowError(row, column, reason))
    return errors


def validate_records(
    kind: Kind,
    rows: Iterable[Mapping[str, Any] | RowProblem | None],
    first_row: int = 1,
    reading: Reading = Reading(),
    attributes: Sequence[Attribute] = (),
) -> ValidationResult:
    """Validate a batch: per-row errors, plus a repeated id (the later row is the error).

    Rows are numbered from `first_row` (the API uses 0: the item index; CSV files 2: the row a
    spreadsheet shows under its header). `reading` says how dates and phones are read (the date
    format, the zone of dates without an offset, the phone region); `attributes` are the
    workspace's registered custom attributes (others are refused).
    """
    if kind not in MODELS:
        raise ValueError(f"kind must be 'customers' or 'orders', not {kind!r}")
    validate = MODELS[kind].model_validate
    context = {"reading": reading}
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
            record = validate(data, context=context)
        except ValidationError as exc:
            errors.extend(_row_errors(row, exc, kind))
            continue
        if isinstance(record, CustomerRecord) and record.attributes:
            record.attributes, problems = read_attributes(record.attributes, attributes, reading)
            if problems:
                errors.extend(RowError(row, f"attributes.{key[:40]}", reason) for key, reason in problems)
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
