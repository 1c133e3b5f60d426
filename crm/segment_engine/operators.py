"""The one table of rule operators: which field types take them, the value they need, their SQL
(bound parameters only) and their English.

In SQL templates {c} is the field's value, {present} is true when that value is not missing, and
{v}, {lo}, {hi}, {vs}, {start}, {today} are bound values. The compiler wraps every comparison as
COALESCE(present AND (sql), false), so a missing value never matches (two-valued logic).
In English templates {v}, {lo}, {hi}, {vs} and {n} are formatted values; a presence operator's
English is a whole phrase with {noun} and {window}.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

# Value shapes: what `value` holds for an operator.
NONE = "none"  # no value
ONE = "one"  # one value of the field's element type
PAIR = "pair"  # [lo, hi], lo <= hi, inclusive
MANY = "many"  # a non-empty list of values
DAYS = "days"  # a whole number of days >= 0

SHAPE_HELP = MappingProxyType(
    {
        NONE: "no value",
        ONE: "one value",
        PAIR: "[low, high], inclusive, low <= high",
        MANY: "a non-empty list of values",
        DAYS: "a whole number of days (0 or more)",
    }
)


@dataclass(frozen=True)
class Operator:
    key: str
    label: str  # rule-builder label
    shape: str
    sql: MappingProxyType[str, str]  # field type -> SQL template
    english: MappingProxyType[str, str]  # field type -> English template
    tests_presence: bool = False  # true for is_empty / is_not_empty: not wrapped by presence
    # NULL whenever {c} is NULL (plain SQL comparisons): the presence test adds nothing then.
    strict: bool = False

    @property
    def types(self) -> tuple[str, ...]:
        return tuple(self.sql)


def _op(
    key: str, label: str, shape: str, presence: bool = False, strict: bool = False, **by_type: tuple[str, str]
) -> Operator:
    """by_type maps a field type (`numeric` = number, decimal and money) to (sql, english)."""
    if "numeric" in by_type:
        by_type["number"] = by_type["decimal"] = by_type["money"] = by_type.pop("numeric")
    return Operator(
        key,
        label,
        shape,
        MappingProxyType({t: s for t, (s, _) in by_type.items()}),
        MappingProxyType({t: e for t, (_, e) in by_type.items()}),
        presence,
        strict,
    )


_EMPTY = ("NOT ({present})", "whose {noun}{window} is empty")
_NOT_EMPTY = ("{present}", "whose {noun}{window} is not empty")

OPERATORS = MappingProxyType(
    {
        o.key: o
        for o in (
            _op(
                "=",
                "is",
                ONE,
                strict=True,
                numeric=("{c} = {v}", "exactly {v}"),
                string=("{c} = {v}", "is {v}"),
                yesno=("{c} = {v}", "is {v}"),
            ),
            _op(
                "!=",
                "is not",
                ONE,
                strict=True,
                numeric=("{c} <> {v}", "other than {v}"),
                string=("{c} <> {v}", "is not {v}"),
                yesno=("{c} <> {v}", "is not {v}"),
            ),
            _op(">", "greater than", ONE, strict=True, numeric=("{c} > {v}", "more than {v}")),
            _op(">=", "at least", ONE, strict=True, numeric=("{c} >= {v}", "at least {v}")),
            _op("<", "less than", ONE, strict=True, numeric=("{c} < {v}", "less than {v}")),
            _op("<=", "at most", ONE, strict=True, numeric=("{c} <= {v}", "at most {v}")),
            _op(
                "between",
                "between",
                PAIR,
                strict=True,
                numeric=("{c} >= {lo} AND {c} <= {hi}", "between {lo} and {hi}"),
                date=("{c} >= {lo} AND {c} <= {hi}", "is between {lo} and {hi}"),
            ),
            _op("in", "is any of", MANY, string=("list_contains({vs}, {c})", "is one of {vs}")),
            _op("not_in", "is none of", MANY, string=("NOT list_contains({vs}, {c})", "is none of {vs}")),
            _op(
                "contains",
                "contains",
                ONE,
                string=("contains({c}, {v})", "contains {v}"),
                list=("list_contains({c}, {v})", "include {v}"),
            ),
            _op(
                "not_contains",
                "does not contain",
                ONE,
                string=("NOT contains({c}, {v})", "does not contain {v}"),
                list=("NOT list_contains({c}, {v})", "do not include {v}"),
            ),
            _op("starts_with", "starts with", ONE, string=("starts_with({c}, {v})", "starts with {v}")),
            _op("contains_any", "contains any of", MANY, list=("list_has_any({c}, {vs})", "include any of {vs}")),
            _op("contains_all", "contains all of", MANY, list=("list_has_all({c}, {vs})", "include all of {vs}")),
            _op("before", "before", ONE, strict=True, date=("{c} < {v}", "is before {v}")),
            _op("after", "after", ONE, strict=True, date=("{c} > {v}", "is after {v}")),
            _op("on", "on", ONE, strict=True, date=("{c} = {v}", "is on {v}")),
            _op(
                "in_last_days",
                "in the last N days",
                DAYS,
                strict=True,
                date=("{c} >= {start} AND {c} <= {today}", "is within the last {n}"),
            ),
            _op(
                "not_in_last_days",
                "not in the last N days",
                DAYS,
                strict=True,
                date=("{c} < {start}", "is more than {n} ago"),
            ),
            _op(
                "is_empty",
                "is empty",
                NONE,
                True,
                numeric=_EMPTY,
                string=_EMPTY,
                date=_EMPTY,
                yesno=_EMPTY,
                list=("len({c}) = 0", "who have no {noun}"),
            ),
            _op(
                "is_not_empty",
                "is not empty",
                NONE,
                True,
                numeric=_NOT_EMPTY,
                string=_NOT_EMPTY,
                date=_NOT_EMPTY,
                yesno=_NOT_EMPTY,
                list=("len({c}) > 0", "who have {noun}"),
            ),
        )
    }
)


def operators_for(field_type: str) -> list[Operator]:
    """The operators a field of this type takes, in table order."""
    return [o for o in OPERATORS.values() if field_type in o.sql]
