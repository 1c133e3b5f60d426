"""Why one customer is in or out of a segment: each condition in English with this customer's
value and whether it held, each group combined as the engine combines it, and the verdict.

Evaluated by the plain-Python reference evaluator (the semantics written out once, and the
judge the SQL engine is tested against); a test holds the verdict to the engine's answer on
random rules and data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from typing import Any

from crm.formats.indian_numbers import format_count, format_inr
from crm.segment_engine.attributes import PREFIX, is_attribute
from crm.segment_engine.catalogue import Catalogue
from crm.segment_engine.describe import describe_condition, format_value
from crm.segment_engine.model import Condition, Group, parse_rule
from crm.segment_engine.reference import customer_facts, holds


@dataclass
class Step:
    """One condition or group of the rule, for one customer."""

    text: str  # the condition in English, or how a group combines ("all of", "any of", "none of")
    held: bool
    value: str | None = None  # this customer's value of the condition's field, as shown
    steps: list[Step] = field(default_factory=list)  # a group's members


@dataclass
class Explanation:
    customer_id: str
    as_of: date
    selected: bool
    rule: Step


def _shown(value: Any, field_type: str) -> str:
    """The customer's value in words: "missing" rather than a blank, rupees for money."""
    if value is None:
        return "missing"
    if field_type == "money":
        paise = value if isinstance(value, int) else Fraction(value)
        return format_inr(round(paise))
    if isinstance(value, date):
        return f"{value.day} {value:%b %Y}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if field_type == "decimal":
        return format_value(value, "decimal")
    if isinstance(value, int):
        return format_count(value)
    return str(value)


def _group_text(group: Group) -> str:
    combined = "all of" if group.op == "and" else "any of"
    return f"not {combined}" if group.negate else combined


def _value(cond: Condition, facts: Any) -> str:
    kind = cond.spec.type
    if kind in ("string", "list"):  # as stored, not as compared (trimmed, lower case)
        if is_attribute(cond.field):
            stored = facts.record.get("attributes")
            raw = stored.get(cond.field[len(PREFIX) :]) if isinstance(stored, dict) else None
            if not isinstance(raw, (str, list)):  # another type reads as missing, as in the engine
                raw = None
        else:
            raw = facts.record.get(cond.field)
        if kind == "list":
            tags = [str(tag) for tag in raw or [] if tag]
            return ", ".join(tags) if tags else f"no {cond.spec.noun}"
        return str(raw) if raw not in (None, "") else "missing"
    value = facts.value(cond)
    if cond.field == "days_since_last_order" and value is not None:
        return f"{format_count(value)} days"
    return _shown(value, kind)


def _step(rule: Group | Condition, facts: Any) -> Step:
    if isinstance(rule, Condition):
        return Step(describe_condition(rule), holds(rule, facts), _value(rule, facts))
    steps = [_step(member, facts) for member in rule.rules]
    result = all(s.held for s in steps) if rule.op == "and" else any(s.held for s in steps)
    return Step(_group_text(rule), not result if rule.negate else result, steps=steps)


def explain(
    rule: Group | dict[str, Any],
    customer: dict[str, Any],
    orders: Iterable[dict[str, Any]],
    as_of: date,
    fields: Catalogue | None = None,
) -> Explanation:
    """Each condition of `rule` for this customer (a customers document and their orders, amounts
    in paise) on day `as_of`, and whether the rule selects them."""
    group = parse_rule(rule, fields)
    top = _step(group, customer_facts(customer, list(orders), as_of))
    return Explanation(customer["customer_id"], as_of, top.held, top)
