"""What the builder's current tree means: nothing yet, a valid rule, or what to fix and where.

Locations from `parse_rule` ("rules[1].rules[0].value") become words a person can find on the
screen: "Group 2, condition 1 (City)".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from crm.errors import InvalidInput
from crm.segment_builder.tree import tree_to_rule
from crm.segment_builder.widget_config import split_window
from crm.segment_engine.catalogue import FIELDS, Catalogue
from crm.segment_engine.model import MAX_DEPTH, ROOT, Group, parse_rule

_STEP = re.compile(r"rules\[(\d+)\]")
_CONDITION_KEYS = ("field", "operator", "value", "within_days")


@dataclass(frozen=True)
class BuilderReading:
    rule: Group | None = None  # set when the tree is a complete, valid rule
    problem: str | None = None  # what to fix, in words, when it is not
    empty: bool = False  # nothing built yet (not a problem: nothing to say)


def read_tree(tree: Any, fields: Catalogue | None = None) -> BuilderReading:
    """Read the widget's tree (or None before the widget reported one); `fields`: the
    workspace's catalogue, when the tree may hold custom attributes."""
    if not tree or not _has_children(tree):
        return BuilderReading(empty=True)
    try:
        return BuilderReading(rule=parse_rule(tree_to_rule(tree), fields))
    except InvalidInput as exc:
        return BuilderReading(problem=explain(exc, _outline(tree)))


def read_json(text: str, fields: Catalogue | None = None) -> Group:
    """A rule pasted as JSON; InvalidInput whose message already says where, in words."""
    try:
        return parse_rule(text, fields)
    except InvalidInput as exc:
        try:
            raw = json.loads(text)
        except (ValueError, RecursionError):  # parse_rule has said what is wrong with it
            raw = None
        raise InvalidInput("rule JSON", explain(exc, raw if isinstance(raw, dict) else None)) from None


def explain(exc: InvalidInput, raw: dict | None = None) -> str:
    where = place(exc.location, raw)
    return f"{where}: {exc.message}" if where else exc.message


def place(location: str, raw: dict | None = None) -> str:
    """'rules[1].rules[0].value' -> 'Group 2, condition 1 (Total spend)'; '' for the whole rule."""
    if not location or location == ROOT:
        return ""
    steps = [int(i) for i in _STEP.findall(location)]
    tail = location.rsplit(".", 1)[-1] if "." in location else location
    tail = re.sub(r"\[\d+\]$", "", tail)
    if not steps:
        return "" if tail in ("op", "not", "rules") else location
    node: Any = raw
    words = []
    for depth, index in enumerate(steps):
        child = _child(node, index)
        last = depth == len(steps) - 1
        is_group = isinstance(child, dict) and ("rules" in child or "op" in child)
        if last and not is_group and (child is not None or tail in _CONDITION_KEYS):
            label = _field_label(child)
            words.append(f"condition {index + 1}" + (f" ({label})" if label else ""))
        else:
            words.append(f"group {index + 1}")
        node = child
    text = ", ".join(words)
    return text[0].upper() + text[1:]


def _child(node: Any, index: int) -> Any:
    rules = node.get("rules") if isinstance(node, dict) else None
    return rules[index] if isinstance(rules, list) and 0 <= index < len(rules) else None


def _field_label(cond: Any) -> str:
    name = cond.get("field") if isinstance(cond, dict) else None
    name = split_window(name)[0] if isinstance(name, str) else None
    return FIELDS[name].label if name is not None and name in FIELDS else ""


def _outline(node: Any, depth: int = 1) -> dict:
    """Groups and fields of a tree, even an incomplete one: enough to name a place."""
    if not isinstance(node, dict) or depth > MAX_DEPTH + 1:  # deeper is refused anyway
        return {}
    if node.get("type") == "rule":
        return {"field": (node.get("properties") or {}).get("field")}
    children = node.get("children", node.get("children1")) or []
    children = children.values() if isinstance(children, dict) else children
    return {"op": "and", "rules": [_outline(c, depth + 1) for c in children]}


def _has_children(tree: Any) -> bool:
    children = tree.get("children", tree.get("children1")) if isinstance(tree, dict) else None
    return bool(children)
