"""What a proposed rule changes against the current one, in English, top-level item by item."""

from __future__ import annotations

import json
from dataclasses import dataclass

from crm.segment_engine import Group, describe_rule, parse_rule


@dataclass(frozen=True)
class RuleChanges:
    added: tuple[str, ...]  # conditions (or groups) only the proposal has, in English
    removed: tuple[str, ...]  # those only the current rule has
    kept: tuple[str, ...]
    combine: str | None = None  # "now any of the conditions" when and/or or negation changed

    @property
    def same(self) -> bool:
        return not (self.added or self.removed or self.combine)


def _items(group: Group) -> dict[str, str]:
    """Each top-level item's JSON -> its English (read with the group's catalogue)."""
    out = {}
    for item in group.rules:
        raw = item.to_json() if isinstance(item, Group) else item.model_dump(exclude_none=True)
        key = json.dumps(raw, sort_keys=True)
        english = describe_rule({"op": "and", "rules": [raw]}, group.fields).removeprefix("Customers ")
        out[key] = english
    return out


def rule_changes(current: Group | dict | None, proposed: Group | dict) -> RuleChanges:
    proposed = parse_rule(proposed)
    if current is None:
        return RuleChanges(tuple(_items(proposed).values()), (), ())
    current = parse_rule(current)
    now, then = _items(proposed), _items(current)
    combine = None
    if (current.op, current.negate) != (proposed.op, proposed.negate):
        how = "all of" if proposed.op == "and" else "any of"
        combine = f"customers now match {how} the conditions" + (
            ", and the whole rule is negated" if proposed.negate else ""
        )
    return RuleChanges(
        added=tuple(e for k, e in now.items() if k not in then),
        removed=tuple(e for k, e in then.items() if k not in now),
        kept=tuple(e for k, e in now.items() if k in then),
        combine=combine,
    )
