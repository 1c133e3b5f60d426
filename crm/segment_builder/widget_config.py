"""The rule-builder widget's configuration, generated from the field catalogue and operator table.

The widget is react-awesome-query-builder (RAQB) inside streamlit-condition-tree. Every field,
type and operator it offers comes from `crm.segment_engine` (no second list): one RAQB type per
kind of field, value widgets chosen by the operator's value shape and the field's element.

Order aggregates with `within_days` appear a second time as "<label> in the last N days": the
same operators with one more value, the number of days (RAQB gives every value of a rule the
same widget, and an extra value needs no custom React code in the browser).

Two traps of the component, both handled here: it deep-merges our config into its defaults
(lodash `merge`, which merges arrays index by index), so our types get names of their own
(`crm_*`) rather than reusing RAQB's; and it reads the config only when it mounts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crm.segment_engine.attributes import PREFIX
from crm.segment_engine.catalogue import FIELDS, TYPES, Catalogue, Field
from crm.segment_engine.model import MAX_DEPTH
from crm.segment_engine.operators import DAYS, MANY, NONE, ONE, OPERATORS, PAIR, Operator, operators_for

WINDOW_SUFFIX = "__within_days"  # widget-only names of windowed fields and operators
DAYS_LABEL = "days"


def window_key(key: str) -> str:
    return key + WINDOW_SUFFIX


# RAQB reads a dot in a field key as a path into nested fields: attr.loyalty_tier is
# attr__loyalty_tier in the widget.
_ATTRIBUTE_WIDGET_PREFIX = "attr__"


def widget_field(name: str) -> str:
    return _ATTRIBUTE_WIDGET_PREFIX + name.removeprefix(PREFIX) if name.startswith(PREFIX) else name


def field_of_widget(key: str) -> str:
    return PREFIX + key.removeprefix(_ATTRIBUTE_WIDGET_PREFIX) if key.startswith(_ATTRIBUTE_WIDGET_PREFIX) else key


def split_window(key: str) -> tuple[str, bool]:
    """('total_spend', True) for 'total_spend__within_days'; (key, False) otherwise."""
    if key.endswith(WINDOW_SUFFIX):
        return key[: -len(WINDOW_SUFFIX)], True
    return key, False


def cardinality(operator: Operator, windowed: bool = False) -> int:
    """How many values the widget shows: a list of many is one multi-select value."""
    base = {NONE: 0, ONE: 1, DAYS: 1, MANY: 1, PAIR: 2}[operator.shape]
    return base + (1 if windowed else 0)


def value_widget(field: Field, operator: Operator, offered: bool) -> str:
    """The RAQB widget for the values of `operator` on `field` (days are always a number)."""
    element = TYPES[field.type].element
    if operator.shape == DAYS or element in ("integer", "decimal", "money"):
        return "number"
    if element == "yesno":
        return "boolean"
    if element == "date":
        return "date"
    if operator.shape == MANY:
        return "multiselect"
    # One whole value (a city, a tag) is picked from the data's values; parts of text are typed.
    whole = field.type == "list" or operator.key in ("=", "!=")
    return "select" if offered and whole else "text"


def _type_name(field: Field, offered: bool, windowed: bool) -> str:
    return "crm_" + field.type + ("_offered" if offered else "") + ("_window" if windowed else "")


def _type_config(field: Field, offered: bool, windowed: bool) -> dict:
    ops = operators_for(field.type)
    widgets: dict[str, dict] = {}
    for op in ops:
        widget = value_widget(field, op, offered)
        if op.shape == NONE:  # no value: listed with the field's main widget
            widget = value_widget(field, ops[0], offered)
        entry = widgets.setdefault(widget, {"operators": []})
        entry["operators"].append(window_key(op.key) if windowed else op.key)
    return {
        "valueSources": ["value"],
        "defaultOperator": (window_key(ops[0].key) if windowed else ops[0].key),
        "operators": [window_key(o.key) if windowed else o.key for o in ops],
        "widgets": widgets,
    }


def _operator_config(op: Operator, windowed: bool) -> dict:
    labels = {NONE: [], ONE: ["value"], DAYS: [DAYS_LABEL], MANY: ["values"], PAIR: ["from", "to"]}[op.shape]
    separators = [None, "and"] if op.shape == PAIR else [None] * len(labels)
    if windowed:
        labels = [*labels, DAYS_LABEL]
        separators = [*separators, "in the last"]
    config = {
        "label": op.label,
        "labelForFormat": op.key,
        "cardinality": cardinality(op, windowed),
        "valueLabels": labels,
        "textSeparators": separators,
    }
    return config


def _field_config(field: Field, choices: list[str] | None, windowed: bool) -> dict:
    label = field.label + (" (₹)" if field.type == "money" else "")
    config: dict[str, Any] = {
        "label": label + (" in the last N days" if windowed else ""),
        "type": _type_name(field, bool(choices), windowed),
        "tooltip": field.description,
        "valueSources": ["value"],
    }
    settings: dict = {}
    if choices:
        settings["listValues"] = [{"value": v, "title": v} for v in choices]
    if field.type in ("string", "list"):
        settings["allowCustomValues"] = True  # a new city or tag may be typed
    if TYPES[field.type].element == "date":
        settings.update(dateFormat="D MMM YYYY", valueFormat="YYYY-MM-DD")
    if settings:
        config["fieldSettings"] = settings
    return config


def builder_config(choices: Mapping[str, list[str]] | None = None, catalogue: Catalogue = FIELDS) -> dict:
    """The `config` for `condition_tree`: every catalogue field (and windowed variant; the
    workspace's custom attributes when `catalogue` has them) and operator. `choices` maps a
    field name to the values offered for it (cities, tags, ...)."""
    choices = choices or {}
    fields: dict[str, dict] = {}
    types: dict[str, dict] = {}
    operators: dict[str, dict] = {}
    for name, field in catalogue.items():
        offered = bool(choices.get(name))
        for windowed in (False, True) if field.windowable else (False,):
            key = window_key(name) if windowed else widget_field(name)
            fields[key] = _field_config(field, choices.get(name), windowed)
            types.setdefault(fields[key]["type"], _type_config(field, offered, windowed))
            for op in operators_for(field.type):
                operators[window_key(op.key) if windowed else op.key] = _operator_config(op, windowed)
    return {
        "fields": fields,
        "types": types,
        "operators": operators,
        "settings": {
            "fieldSources": ["field"],
            "valueSourcesInfo": {"value": {}},
            "showNot": True,
            "canReorder": True,
            "canRegroup": True,
            "maxNesting": MAX_DEPTH,
            "canLeaveEmptyGroup": True,
            "shouldCreateEmptyGroup": False,
            "removeIncompleteRulesOnLoad": False,
            "removeEmptyRulesOnLoad": False,
            "removeEmptyGroupsOnLoad": False,
            "removeInvalidMultiSelectValuesOnLoad": False,
            "showErrorMessage": True,  # keep a wrong value on screen, with RAQB's own note
            "setOpOnChangeField": ["keep", "default"],
            "addRuleLabel": "Add condition",
            "addGroupLabel": "Add group",
            "notLabel": "Not",
            "fieldPlaceholder": "Choose a field",
            "operatorPlaceholder": "Choose how to compare",
            "valuePlaceholder": "Value",
        },
    }


def operator_for_widget(key: str) -> tuple[Operator | None, bool]:
    """Our operator for a widget operator key, and whether it is the windowed variant."""
    base, windowed = split_window(key)
    return OPERATORS.get(base), windowed
