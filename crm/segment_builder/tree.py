"""Two-way conversion between the builder widget's tree and our rule JSON.

The widget (streamlit-condition-tree) hands back react-awesome-query-builder's JSON tree with
`children` lists and no ids, and takes the same shape back as `tree=`:

    {"type": "group", "properties": {"conjunction": "AND", "not": false},
     "children": [{"type": "rule", "properties": {"field": "total_spend", "operator": ">",
                   "value": [5000], "valueSrc": ["value"], "valueType": ["number"]}}, ...]}

A list of values (cities, tags) is one multi-select value: `"value": [["Mumbai", "Pune"]]`.
A windowed aggregate ("total_spend__within_days") carries its days as the last value.

`tree_to_rule` only reshapes; what is missing or wrong is left for `parse_rule`, so the builder,
the JSON box and the API all get the same messages. It raises InvalidInput itself only for
what `parse_rule` cannot see: a condition whose field or operator is not chosen yet, and a
windowed condition without its number of days.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from crm.errors import InvalidInput
from crm.segment_builder.widget_config import (
    field_of_widget,
    operator_for_widget,
    split_window,
    value_widget,
    widget_field,
    window_key,
)
from crm.segment_engine.catalogue import FIELDS, Catalogue, Field
from crm.segment_engine.model import MAX_DEPTH, ROOT, TOO_DEEP, Group, parse_rule
from crm.segment_engine.operators import MANY, NONE, OPERATORS, PAIR

# --- rule -> tree ---------------------------------------------------------------------------


def rule_to_tree(rule: Any, offered: Collection[str] = (), fields: Catalogue | None = None) -> dict:
    """The widget tree of a valid rule (dict, JSON text or Group). `offered`: the fields whose
    values the widget offers from the data (their single values are picked, not typed);
    `fields`: the workspace's catalogue, when the rule may name custom attributes."""
    return _group_tree(parse_rule(rule, fields), frozenset(offered))


def _group_tree(group: Group, offered: frozenset) -> dict:
    children = [
        _group_tree(r, offered) if isinstance(r, Group) else _condition_tree(r.model_dump(), r.spec, offered)
        for r in group.rules
    ]
    return {"type": "group", "properties": {"conjunction": group.op.upper(), "not": group.negate}, "children": children}


def _condition_tree(cond: dict, field: Field, offered: frozenset) -> dict:
    operator = OPERATORS[cond["operator"]]
    windowed = cond.get("within_days") is not None
    if operator.shape == NONE:
        values: list = []
    elif operator.shape == PAIR:
        values = list(cond["value"])
    else:
        values = [cond["value"]]  # MANY: the whole list is one multi-select value
    widget = value_widget(field, operator, field.name in offered)
    types = [widget] * len(values)
    if windowed:
        values.append(cond["within_days"])
        types.append("number")
    return {
        "type": "rule",
        "properties": {
            "field": window_key(field.name) if windowed else widget_field(field.name),
            "operator": window_key(operator.key) if windowed else operator.key,
            "value": values,
            "valueSrc": ["value"] * len(values),
            "valueType": types,
        },
    }


# --- tree -> rule ---------------------------------------------------------------------------


def tree_to_rule(tree: Any) -> dict:
    """Our rule JSON (not yet validated) from a widget tree; see the module docstring."""
    if not isinstance(tree, dict) or tree.get("type", "group") != "group":
        raise InvalidInput(ROOT, "the builder sent no rule group; start again with Add condition")
    return _group_rule(tree, "", 1)


def rule_from_tree(tree: Any, fields: Catalogue | None = None) -> Group:
    """The validated rule the widget's tree means; InvalidInput names what to fix."""
    return parse_rule(tree_to_rule(tree), fields)


def _children(node: dict) -> list:
    children = node.get("children", node.get("children1")) or []
    return list(children.values()) if isinstance(children, dict) else list(children)


def _group_rule(node: dict, path: str, depth: int) -> dict:
    # The widget stops at MAX_DEPTH; a tree sent deeper by hand is refused before it can recurse far.
    if depth > MAX_DEPTH:
        raise InvalidInput(path or ROOT, TOO_DEEP)
    props = node.get("properties") or {}
    rules = []
    for i, child in enumerate(_children(node)):
        at = f"{path}.rules[{i}]" if path else f"rules[{i}]"
        if not isinstance(child, dict):
            raise InvalidInput(at, "the builder sent something that is neither a condition nor a group")
        if child.get("type") in ("group", "rule_group"):
            rules.append(_group_rule(child, at, depth + 1))
        else:
            rules.append(_condition_rule(child.get("properties") or {}, at))
    return {"op": str(props.get("conjunction") or "AND").lower(), "not": bool(props.get("not", False)), "rules": rules}


def _condition_rule(props: dict, at: str) -> dict:
    field_key, operator_key = props.get("field"), props.get("operator")
    if not field_key:
        raise InvalidInput(f"{at}.field", "choose a field for this condition, or delete it")
    name, field_windowed = split_window(str(field_key))
    name = field_of_widget(name)
    if not operator_key:
        label = FIELDS[name].label if name in FIELDS else name
        raise InvalidInput(f"{at}.operator", f"choose how to compare {label}")
    operator, op_windowed = operator_for_widget(str(operator_key))
    values = [_plain(v) for v in (props.get("value") or [])]
    rule: dict = {"field": name, "operator": operator.key if operator else str(operator_key)}
    if field_windowed or op_windowed:
        days = values.pop() if values else None
        if days is None:
            raise InvalidInput(f"{at}.within_days", "enter the number of days (in the last N days)")
        rule["within_days"] = days
    if operator is None or operator.shape == NONE:
        if any(v is not None for v in values):
            rule["value"] = values[0] if len(values) == 1 else values
        return rule
    if operator.shape == PAIR:
        rule["value"] = (values + [None, None])[:2]
    else:
        rule["value"] = values[0] if values else None
        if operator.shape == MANY and isinstance(rule["value"], str):
            rule["value"] = [rule["value"]]  # a single typed value is a list of one
        if operator.shape == MANY and rule["value"] == []:
            rule["value"] = None  # nothing picked yet: "needs a list" reads better than "at least one"
    return rule


def _plain(value: Any) -> Any:
    """RAQB leaves `undefined` (null in JSON) for an empty input and "" for a cleared text."""
    if isinstance(value, str) and not value.strip():
        return None
    return value
