"""Rules in English: "Customers who spent more than ₹5,000 and whose last order was more than
90 days ago". Words come from the catalogue (field phrases) and the operator table."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from crm.segment_engine.catalogue import TYPES, Catalogue
from crm.segment_engine.model import Condition, Group, parse_rule, typed_value
from crm.segment_engine.operators import OPERATORS


def describe_rule(group: Group | dict[str, Any], fields: Catalogue | None = None) -> str:
    """One sentence for the whole rule; a negated top group reads "Customers except those ..."."""
    rule = parse_rule(group, fields)
    body = _body(rule)
    return f"Customers except those {body}" if rule.negate else f"Customers {body}"


def _body(group: Group) -> str:
    return f" {group.op} ".join(_rule(r) for r in group.rules)


def _rule(rule: Group | Condition) -> str:
    if isinstance(rule, Condition):
        return describe_condition(rule)
    inner = f"({_body(rule)})"
    return f"not {inner}" if rule.negate else inner


def describe_condition(cond: Condition) -> str:
    field = cond.spec
    operator = OPERATORS[cond.operator]
    window = f" in the last {_days(cond.within_days)}" if cond.within_days else ""
    english = operator.english[field.type]
    if operator.tests_presence:
        return str(english.format(noun=field.noun, window=window))
    element = TYPES[field.type].element
    value = typed_value(cond)
    words: dict[str, str] = {}
    if operator.shape == "days":
        words["n"] = _days(value)
    elif operator.shape == "pair":
        words["lo"], words["hi"] = (format_value(v, element) for v in value)
    elif operator.shape == "many":
        words["vs"] = ", ".join(format_value(v, element) for v in value)
    else:
        words["v"] = format_value(value, element)
    phrase = field.phrase or TYPES[field.type].phrase
    return phrase.format(noun=field.noun, cmp=english.format(**words), window=window)


def format_value(value: Any, element: str) -> str:
    if element == "money":
        return format_rupees(value)
    if element == "integer":
        return ("-" if value < 0 else "") + indian_grouping(abs(value))
    if element == "decimal":
        whole, point, rest = f"{abs(Decimal(repr(value))):f}".partition(".")
        rest = rest.rstrip("0")
        return ("-" if value < 0 else "") + indian_grouping(int(whole)) + (point + rest if rest else "")
    if element == "yesno":
        return "yes" if value else "no"
    if isinstance(value, date):
        return f"{value.day} {value:%b %Y}"
    return f"“{value}”"


def format_rupees(paise: int) -> str:
    """₹ with Indian digit grouping: 10000000 paise -> ₹1,00,000; 500050 -> ₹5,000.50."""
    sign = "-" if paise < 0 else ""
    rupees, rest = divmod(abs(paise), 100)
    return f"{sign}₹{indian_grouping(rupees)}" + (f".{rest:02d}" if rest else "")


def indian_grouping(number: int) -> str:
    """12345678 -> 1,23,45,678 (last three digits, then pairs)."""
    digits = str(number)
    head, tail = digits[:-3], digits[-3:]
    pairs: list[str] = []
    while head:
        pairs.insert(0, head[-2:])
        head = head[:-2]
    return ",".join([*pairs, tail]) if pairs else tail


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{indian_grouping(n)} days"
