"""Facts about fields and operators for the AI prompt and its JSON schema, generated from
the catalogue and the operator table (nothing here lists a field or an operator by hand)."""

from __future__ import annotations

import json
from typing import Any

from crm.segment_engine.catalogue import FIELDS, TYPES, WINDOW_FIELDS, Catalogue
from crm.segment_engine.model import MAX_DAYS
from crm.segment_engine.operators import OPERATORS, SHAPE_HELP, operators_for


def prompt_facts(catalogue: Catalogue = FIELDS) -> str:
    """Plain text for an AI prompt: the rule format, the fields (the workspace's custom attributes
    too), the operators and the meaning."""
    used = {f.type for f in catalogue.values()}
    fields = "\n".join(
        f"- {f.name} ({f.type}{', takes within_days' if f.windowable else ''}): {f.description} "
        f"Example values: {', '.join(json.dumps(e, ensure_ascii=False) for e in f.examples)}."
        for f in catalogue.values()
    )
    types = "\n".join(
        f"- {t.name}: values are {t.value_help}. Operators: "
        + "; ".join(f"{o.key} ({SHAPE_HELP[o.shape]})" for o in operators_for(t.name))
        for t in TYPES.values()
        if t.name in used
    )
    custom = [name for name in catalogue if name not in FIELDS]
    attributes = (
        f"\n- Custom attributes of this workspace ({', '.join(custom)}) are fields like the others: "
        "use them when the request names them (by label or name)."
        if custom
        else ""
    )
    example = {
        "op": "and",
        "rules": [
            {"field": "total_spend", "operator": ">", "value": 5000},
            {"field": "days_since_last_order", "operator": ">", "value": 90},
            {
                "op": "or",
                "not": False,
                "rules": [
                    {"field": "city", "operator": "in", "value": ["Mumbai", "Pune"]},
                    {"field": "order_count", "operator": ">=", "value": 2, "within_days": 30},
                ],
            },
        ],
    }
    return f"""A segment rule is one group: {{"op": "and" | "or", "not": false, "rules": [...]}}.
Each item of rules is a condition {{"field", "operator", "value", "within_days"?}} or another group.
"not": true negates the whole group. Groups are never empty.

Fields:
{fields}

Operators by field type:
{types}

Meaning:
- Money is in rupees (5000 means ₹5,000), at most 2 decimals.
- Order fields count only completed orders. A customer without orders has total_spend 0 and
  order_count 0; avg_order_value, first/last_order_date and days_since_last_order are missing.
- within_days N (only on {", ".join(WINDOW_FIELDS)}) keeps orders of the last N days.
- Any comparison with a missing value is false; is_empty finds missing values.
- Text compares ignoring case and surrounding spaces. Dates are YYYY-MM-DD (UTC); "today" is
  the evaluation date; in_last_days N means from today-N to today.{attributes}

Example ("spent over ₹5,000, no order for 90 days, and in Mumbai or Pune or 2+ orders last month"):
{json.dumps(example)}"""


def rule_json_schema(catalogue: Catalogue = FIELDS) -> dict[str, Any]:
    """JSON Schema of a rule for structured output; fields and operators are enums.

    The recursion goes through `rules`, which is optional with a default (some structured-output
    implementations accept a cycle only through a non-required property)."""
    scalar: list[dict[str, str]] = [{"type": "number"}, {"type": "string"}]
    if any(f.type == "yesno" for f in catalogue.values()):
        scalar.append({"type": "boolean"})
    return {
        "$defs": {
            "Condition": {
                "type": "object",
                "properties": {
                    "field": {"type": "string", "enum": list(catalogue)},
                    "operator": {"type": "string", "enum": list(OPERATORS)},
                    "value": {
                        "anyOf": [*scalar, {"type": "array", "items": {"anyOf": scalar}}],
                        "description": "see the operator: one value, [low, high], a list, "
                        "or days; omit for is_empty/is_not_empty",
                    },
                    "within_days": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_DAYS,
                        "description": f"only for {', '.join(WINDOW_FIELDS)}",
                    },
                },
                "required": ["field", "operator"],
            },
            "Group": {
                "type": "object",
                "properties": {
                    "op": {"type": "string", "enum": ["and", "or"]},
                    "not": {"type": "boolean", "default": False},
                    "rules": {
                        "type": "array",
                        "default": [],
                        "items": {"anyOf": [{"$ref": "#/$defs/Group"}, {"$ref": "#/$defs/Condition"}]},
                    },
                },
                "required": ["op"],
            },
        },
        "$ref": "#/$defs/Group",
    }
