"""The one catalogue of fields a segment rule can test.

Validation, the SQL compiler, the English describer, the rule-builder facts and the AI prompt all
read these two tables; adding a field is one entry here (plus its feature column if it is new).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from crm.formats.gender import GENDERS, normalise_gender


@dataclass(frozen=True)
class FieldType:
    """How fields of one kind hold values, show in the builder and read in English."""

    name: str
    element: str  # what one value in a rule is: "integer", "decimal", "money", "text", "date" or "yesno"
    widget: str  # rule-builder hint
    phrase: str  # English of a condition; {noun}, {cmp} (the operator's words), {window}
    value_help: str  # one line for people and the AI prompt


TYPES = MappingProxyType(
    {
        t.name: t
        for t in (
            FieldType("number", "integer", "number", "whose {noun}{window} is {cmp}", "a whole number, e.g. 30"),
            FieldType(
                "decimal",
                "decimal",
                "number",
                "whose {noun} is {cmp}",
                "a number, decimals allowed, e.g. 4.5",
            ),
            FieldType(
                "money",
                "money",
                "currency",
                "whose {noun}{window} is {cmp}",
                "rupees as a number with at most 2 decimals, e.g. 5000 or 5000.50",
            ),
            FieldType(
                "string", "text", "text", "whose {noun} {cmp}", "text, compared ignoring case and surrounding spaces"
            ),
            FieldType(
                "list",
                "text",
                "tags",
                "whose {noun} {cmp}",
                "a tag (text, ignoring case); lists of tags for contains_any/contains_all",
            ),
            FieldType(
                "date",
                "date",
                "date",
                "whose {noun} {cmp}",
                "a calendar date YYYY-MM-DD (UTC); whole days for in_last_days",
            ),
            FieldType("yesno", "yesno", "boolean", "whose {noun} {cmp}", "true (yes) or false (no)"),
        )
    }
)


@dataclass(frozen=True)
class Field:
    """One field of a rule and where its value comes from in `customer_features` (alias f)."""

    name: str
    type: str
    label: str
    description: str
    source: str  # where the value comes from, for people
    column: str  # column of customer_features (or of a window aggregate) holding the value
    examples: tuple[Any, ...] = ()
    windowable: bool = False  # takes `within_days`
    # SQL of the value when it is not simply the column; {src} is the row alias
    # (f, or a window aggregate), {today} the evaluation date.
    value_sql: str | None = None
    per: str | None = None  # SQL of a denominator: the value is column / per (exact compare)
    present_sql: str | None = None  # SQL that is true when the value is not missing
    phrase: str | None = None  # English override of the type's phrase
    # Never missing (0 or [] instead): no presence test. Stored as is in f (features coalesce),
    # so value_sql is only needed for window aggregates.
    never_missing: bool = False
    # The value is today - this day column in whole days: comparisons become comparisons of the
    # column with a constant day, computed once from the evaluation date.
    days_to_today: bool = False
    # Few distinct values (city, gender): features also hold an integer code of the key, so
    # =, !=, in and not_in compare integers (see codes.py).
    coded: bool = False
    # Values stored normalised (gender): a rule's =, !=, in and not_in values are read the same
    # way, so "F" and "female" select the same customers.
    normalise: Callable[[str], str | None] | None = None
    noun_words: str | None = None  # the label inside a sentence, when not just its first letter lowered

    @property
    def noun(self) -> str:
        return self.noun_words or self.label[0].lower() + self.label[1:]

    @property
    def code_column(self) -> str:
        return f"{self.name}_code"


def _customer_text(
    name: str,
    label: str,
    description: str,
    examples: tuple[str, ...],
    coded: bool = False,
    normalise: Callable[[str], str | None] | None = None,
) -> Field:
    return Field(
        name,
        "string",
        label,
        description,
        f"customers.{name}",
        f"{name}_key",
        examples,
        coded=coded,
        normalise=normalise,
    )


_ORDERS = "completed orders"

FIELDS = MappingProxyType(
    {
        f.name: f
        for f in (
            _customer_text("customer_id", "Customer ID", "The customer's external id.", ("C0001",)),
            _customer_text("name", "Name", "Full name.", ("Asha Rao",)),
            _customer_text("email", "Email", "Email address.", ("asha@example.com",)),
            _customer_text("phone", "Phone", "Phone number as stored.", ("+919812345678",)),
            _customer_text("city", "City", "City of the customer.", ("Mumbai", "Pune"), coded=True),
            _customer_text(
                "gender",
                "Gender",
                "Gender: female, male or other (F, M, woman, mahila... are read as these).",
                GENDERS,
                coded=True,
                normalise=normalise_gender,
            ),
            Field("age", "number", "Age", "Age in years.", "customers.age", "age", (25, 40)),
            Field(
                "signup_date",
                "date",
                "Signup date",
                "Day the customer signed up (UTC).",
                "customers.signup_date",
                "signup_day",
                ("2024-01-15",),
            ),
            Field(
                "tags",
                "list",
                "Tags",
                "Labels on the customer; never missing, maybe empty.",
                "customers.tags",
                "tags_key",
                ("vip", "newsletter"),
                never_missing=True,
            ),
            Field(
                "total_spend",
                "money",
                "Total spend",
                f"Sum of {_ORDERS} in rupees (0 with none).",
                f"sum of amount over {_ORDERS}",
                "total_spend_paise",
                (5000, 25000),
                windowable=True,
                value_sql="coalesce({src}.total_spend_paise, 0)",
                phrase="who spent {cmp}{window}",
                never_missing=True,
            ),
            Field(
                "order_count",
                "number",
                "Order count",
                f"Number of {_ORDERS} (0 with none).",
                f"count of {_ORDERS}",
                "order_count",
                (2, 5),
                windowable=True,
                value_sql="coalesce({src}.order_count, 0)",
                phrase="who placed {cmp} orders{window}",
                never_missing=True,
            ),
            Field(
                "avg_order_value",
                "money",
                "Average order value",
                f"Mean amount of {_ORDERS} in rupees; missing with none.",
                f"total spend / order count over {_ORDERS}",
                "total_spend_paise",
                (1500,),
                windowable=True,
                value_sql="coalesce({src}.total_spend_paise, 0)",
                per="coalesce({src}.order_count, 0)",
                present_sql="coalesce({src}.order_count, 0) > 0",
            ),
            Field(
                "first_order_date",
                "date",
                "First order date",
                f"Day (UTC) of the first of the {_ORDERS}; missing with none.",
                f"min order_date over {_ORDERS}",
                "first_order_day",
                ("2023-06-01",),
            ),
            Field(
                "last_order_date",
                "date",
                "Last order date",
                f"Day (UTC) of the latest of the {_ORDERS}; missing with none.",
                f"max order_date over {_ORDERS}",
                "last_order_day",
                ("2024-02-20",),
            ),
            Field(
                "days_since_last_order",
                "number",
                "Days since last order",
                f"Whole days from the last of the {_ORDERS} to today; missing with none.",
                "today - last_order_date",
                "last_order_day",
                (30, 90),
                value_sql="({today} - {src}.last_order_day)",
                phrase="whose last order was {cmp} days ago",
                days_to_today=True,
            ),
        )
    }
)

# The fields one workspace's rules may name: FIELDS, plus its custom attributes (`attributes.py`).
Catalogue = Mapping[str, Field]

WINDOW_FIELDS = tuple(name for name, f in FIELDS.items() if f.windowable)


def customer_column(field: Field) -> str | None:
    """The `customers` column a field reads as is, or None for order aggregates."""
    table, _, column = field.source.partition(".")
    return column if table == "customers" and column.isidentifier() else None
