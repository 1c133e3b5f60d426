"""The columns a preview sample or an export can show, each once, as trusted SQL over `f`.

Money is shown in rupees (exact DECIMAL from integer paise); timestamps as naive UTC;
`days_since_last_order` needs the evaluation date, bound as the one parameter of its expression.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from crm.errors import InvalidInput
from crm.segment_engine.attributes import Attribute

# Timestamps leave as naive UTC; the CSV export writes them with their offset (+00:00), so an
# import reads them back as UTC, not as the workspace's local time.
_UTC = "timezone('UTC', {ts})"
# Whole paise times 0.01 stays DECIMAL (dividing would go through DOUBLE and lose paise past
# 2**53); 38 digits hold a total of int64 paise, which can pass what DECIMAL(18, 2) holds.
_RUPEES = "(CAST({paise} AS DECIMAL(38, 0)) * 0.01)::DECIMAL(38, 2)"

COLUMNS: dict[str, str] = {
    "customer_id": "f.customer_id",
    "name": "f.name",
    "email": "f.email",
    "phone": "f.phone",
    "city": "f.city",
    "gender": "f.gender",
    "age": "f.age",
    "signup_date": _UTC.format(ts="f.signup_date"),
    "tags": "f.tags",
    "consent_email": "f.consent_email",
    "consent_sms": "f.consent_sms",
    "consent_whatsapp": "f.consent_whatsapp",
    "total_spend": _RUPEES.format(paise="f.total_spend_paise"),
    "order_count": "f.order_count",
    "avg_order_value": _RUPEES.format(paise="f.total_spend_paise / nullif(f.order_count, 0)"),
    "first_order_date": _UTC.format(ts="f.first_order_date"),
    "last_order_date": _UTC.format(ts="f.last_order_date"),
    "days_since_last_order": "(CAST(? AS DATE) - f.last_order_day)",
}
NEEDS_AS_OF = {"days_since_last_order"}
# A CSV cell holds text: tags as the import format writes them (separated by ';').
CSV_OVERRIDES = {"tags": "array_to_string(f.tags, ';')"}


def select_list(
    names: list[str] | None, as_of: date, csv: bool = False, attributes: Sequence[Attribute] = ()
) -> tuple[str, list]:
    """`expr AS name, ...` for the chosen columns (all by default, then the custom attributes,
    headed by their labels, which an import maps back) and its parameters."""
    # A label never stands for a built-in column (registration refuses such names anyway).
    custom = {a.label: _attribute_sql(a) for a in attributes if a.label not in COLUMNS}
    known = {**COLUMNS, **custom}
    names = names or list(known)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InvalidInput("columns", f"unknown column {unknown[0]!r}; choose from {', '.join(known)}")
    parts, params = [], []
    for name in names:
        expr = CSV_OVERRIDES.get(name, known[name]) if csv else known[name]
        quoted = name.replace('"', '""')  # a label is people's text: quoted as an identifier
        parts.append(f'{expr} AS "{quoted}"')
        if name in NEEDS_AS_OF:
            params.append(as_of)
    return ", ".join(parts), params


def _attribute_sql(attribute: Attribute) -> str:
    """A custom attribute as a CSV cell reads back in: text, 4.5, 2024-03-01, true/false, a;b."""
    path = f"'$.{attribute.key}'"  # keys match KEY_PATTERN: safe in SQL text
    if attribute.kind == "list":
        return f"array_to_string(json_extract_string(f.attributes, '$.{attribute.key}[*]'), ';')"
    if attribute.kind == "date":
        return f"CAST(TRY_CAST(json_extract_string(f.attributes, {path}) AS TIMESTAMP) AS DATE)"
    return f"json_extract_string(f.attributes, {path})"
