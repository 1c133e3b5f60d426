"""Custom attributes: fields a workspace adds to its customers ("Loyalty Tier", "Preferred Store").

An attribute has a key (`loyalty_tier`), a label as people wrote it and a kind. Rules name it
`attr.<key>` and take the operators of its kind, because each attribute becomes one more `Field`
of the catalogue: validation, the compiler, the English, the builder, the AI prompt and the
reference evaluator read it like any built-in field, with no code per attribute.

Values live in the customer's `attributes` object (MongoDB) and, in the analytic copy, in one
JSON text column `attributes`; an attribute's value SQL reads its key from there. Keys are
checked against KEY_PATTERN before they are registered, so one can stand in SQL text (as a JSON
path) the way a column name does; values are always bound parameters.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from types import MappingProxyType

from crm.errors import InvalidInput
from crm.segment_engine.catalogue import FIELDS, Catalogue, Field
from crm.segment_engine.text_keys import text_key_sql

PREFIX = "attr."
KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")
MAX_ATTRIBUTES = 100

# What people choose -> the field type that holds it. "number" allows decimals (a rating, a
# balance); whole numbers are numbers too.
KINDS = MappingProxyType({"text": "string", "number": "decimal", "date": "date", "yes/no": "yesno", "list": "list"})
_KIND_WORDS = MappingProxyType(
    {
        **{k: k for k in KINDS},
        "string": "text",
        "decimal": "number",
        "integer": "number",
        "yesno": "yes/no",
        "yes_no": "yes/no",
        "boolean": "yes/no",
        "bool": "yes/no",
        "tags": "list",
    }
)
_EXAMPLES = MappingProxyType(
    {"text": ("Gold",), "number": (4.5,), "date": ("2024-03-01",), "yes/no": (True,), "list": ("Andheri",)}
)


@dataclass(frozen=True)
class Attribute:
    key: str  # loyalty_tier
    label: str  # Loyalty Tier
    kind: str  # one of KINDS

    def __post_init__(self) -> None:
        # Keys stand in SQL text: a registry read back is checked again, never trusted.
        if not KEY_PATTERN.fullmatch(self.key) or self.kind not in KINDS:
            raise InvalidInput("attribute", f"{self.key!r} ({self.kind!r}) is not a valid attribute")

    @property
    def name(self) -> str:
        """The field's name in rules: attr.loyalty_tier."""
        return PREFIX + self.key


def kind_of(word: str) -> str:
    """The kind a person means ("Yes/No", "boolean", "tags" ...); InvalidInput otherwise."""
    kind = _KIND_WORDS.get(word.strip().lower())
    if kind is None:
        raise InvalidInput("attribute type", f"{word!r} is not a type; use one of {', '.join(KINDS)}")
    return kind


# Names an attribute may not take: every column an import reads or an export writes besides the
# rule fields (an attribute "consent_sms" would stand in for consent in an exported file).
RESERVED = frozenset({"consent", "consent_email", "consent_sms", "consent_whatsapp", "attributes"})
FORMULA_START = tuple("=+-@\t\r")  # a spreadsheet runs a cell starting so: never a column heading


def key_for(label: str, reserved: frozenset[str] = RESERVED) -> str:
    """The attribute key of a column heading: "Loyalty Tier" -> loyalty_tier, "Préféré" -> prefere.
    `reserved`: other names no attribute may take (the export's columns)."""
    if label.strip().startswith(FORMULA_START):
        raise InvalidInput(
            "attribute",
            f"{label!r} starts like a spreadsheet formula: rename the column, e.g. without the {label.strip()[0]!r}",
        )
    plain = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    key = re.sub(r"[^a-z0-9]+", "_", plain.lower()).strip("_")[:40].rstrip("_")
    if key and not key[0].isalpha():
        key = f"a_{key}"[:40]
    if not KEY_PATTERN.fullmatch(key):
        raise InvalidInput(
            "attribute", f"{label!r} cannot name an attribute: give it a name with letters, e.g. 'Loyalty Tier'"
        )
    if PREFIX + key in FIELDS or key in FIELDS or key in RESERVED or key in reserved:
        raise InvalidInput(
            "attribute", f"{label!r} is the name of a built-in field or column; map the column to it, or rename it"
        )
    return key


def _key_sql(expr: str) -> str:
    """text_key_sql of `expr` in a value_sql template, whose braces are format fields: the
    pattern's own braces are doubled, `expr` (holding {src}) is put in as it is."""
    return text_key_sql("\0").replace("{", "{{").replace("}", "}}").replace("\0", expr)


def _value_sql(attribute: Attribute) -> str:
    # json_extract_string gives NULL for a missing key and for JSON null.
    raw = f"json_extract_string({{src}}.attributes, '$.{attribute.key}')"
    if attribute.kind == "text":
        return _key_sql(raw)
    if attribute.kind == "number":
        return f"TRY_CAST({raw} AS DOUBLE)"
    if attribute.kind == "date":  # stored as an instant at midnight UTC (or a UTC time): its UTC day
        return f"CAST(TRY_CAST({raw} AS TIMESTAMP) AS DATE)"
    if attribute.kind == "yes/no":
        return f"TRY_CAST({raw} AS BOOLEAN)"
    key = _key_sql("t")  # a list compares like tags: trimmed, lower-cased, never missing
    return (
        f"coalesce(list_distinct(list_filter(list_transform(json_extract_string({{src}}.attributes, "
        f"'$.{attribute.key}[*]'), lambda t: {key}), lambda k: k IS NOT NULL)), [])"
    )


def attribute_field(attribute: Attribute) -> Field:
    help_by_kind = {
        "text": "Text, compared ignoring case and surrounding spaces.",
        "number": "A number (decimals allowed).",
        "date": "A calendar date (UTC).",
        "yes/no": "Yes (true) or no (false).",
        "list": "A list of values, compared like tags; never missing, maybe empty.",
    }
    return Field(
        attribute.name,
        KINDS[attribute.kind],
        attribute.label,
        f"Custom attribute '{attribute.label}' of this workspace. {help_by_kind[attribute.kind]}",
        f"customers.attributes.{attribute.key}",
        "attributes",
        _EXAMPLES[attribute.kind],
        value_sql=_value_sql(attribute),
        # "Loyalty Tier" reads "whose loyalty tier is"; an acronym such as NPS stays as written
        noun_words=" ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in attribute.label.split()),
    )


def catalogue_with(attributes: Iterable[Attribute]) -> Catalogue:
    """The built-in fields followed by these attributes, in the order given."""
    extra = {a.name: attribute_field(a) for a in attributes}
    return MappingProxyType({**FIELDS, **extra}) if extra else FIELDS


def is_attribute(name: str) -> bool:
    return name.startswith(PREFIX)
