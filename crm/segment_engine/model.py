"""Rule model: pydantic types and `parse_rule`, the gate every rule passes before use.

`parse_rule` checks a raw rule against the catalogue and the operator table and returns a `Group`
whose values are canonical JSON (numbers, strings, "YYYY-MM-DD" dates, lists), so a parsed rule
can be stored and parsed again unchanged. `typed_value` turns a condition's value into what the
compiler and the reference evaluator compare with (int paise, int, text, date).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, PrivateAttr
from pydantic import Field as ModelField

from crm.errors import InvalidInput
from crm.segment_engine.catalogue import FIELDS, TYPES, WINDOW_FIELDS, Catalogue, Field
from crm.segment_engine.operators import DAYS, MANY, NONE, ONE, OPERATORS, PAIR, operators_for

MAX_DEPTH = 8  # groups inside groups; the builder offers no deeper nesting either
MAX_CONDITIONS = 500
MAX_TEXT = 200  # characters in one text value
MAX_LIST = 1000  # values in one list
MAX_NUMBER = 10**15  # |value| of a whole number
MAX_RUPEES = 10**13  # |amount|: with 2 decimals it still fits a float's 15 exact digits
MAX_DAYS = 100_000  # in_last_days / within_days

ROOT = "(top level)"
TOO_DEEP = f"groups nest too deep (at most {MAX_DEPTH} levels)"


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str
    operator: str
    value: Any = None
    within_days: int | None = None
    _spec: Field | None = PrivateAttr(default=None)

    @property
    def spec(self) -> Field:
        """The catalogue entry of this condition's field (a custom attribute's too)."""
        return self._spec or FIELDS[self.field]


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    op: Literal["and", "or"]
    negate: bool = ModelField(default=False, alias="not")
    rules: list[Group | Condition] = ModelField(default_factory=list)
    # The catalogue the rule was checked against: built-in fields, and the workspace's attributes.
    _fields: Catalogue = PrivateAttr(default_factory=lambda: FIELDS)

    @property
    def fields(self) -> Catalogue:
        return self._fields

    def to_json(self) -> dict[str, Any]:
        """The rule as contract JSON (`not`, no empty keys)."""
        return self.model_dump(by_alias=True, exclude_none=True)


def parse_rule(obj: Any, fields: Catalogue | None = None) -> Group:
    """Validate a rule (dict, JSON text or Group); raise InvalidInput naming the place.

    `fields`: the catalogue to check against, the workspace's when its rules may name custom
    attributes; by default a Group's own, else the built-in fields."""
    if isinstance(obj, Group):
        fields = fields or obj.fields
        obj = obj.to_json()
    elif isinstance(obj, (str, bytes)):
        obj = load_rule_json(obj)
    fields = fields or FIELDS
    group = Group.model_validate(_group(obj, "", 1, [0], fields))
    _attach(group, fields)
    return group


def _attach(group: Group, fields: Catalogue) -> None:
    """Give the parsed groups their catalogue and the conditions their field."""
    group._fields = fields
    for rule in group.rules:
        if isinstance(rule, Group):
            _attach(rule, fields)
        else:
            rule._spec = fields[rule.field]


def load_rule_json(text: str | bytes, where: str = ROOT) -> Any:
    """JSON text -> raw rule; bad JSON and nesting too deep to decode are InvalidInput at `where`."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(where, f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except ValueError as exc:  # bytes that are not UTF-8
        raise InvalidInput(where, f"not valid JSON ({exc})") from None
    except RecursionError:  # thousands of levels: the decoder gives up before we can count them
        raise InvalidInput(where, TOO_DEEP) from None


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _group(obj: Any, path: str, depth: int, counter: list[int], fields: Catalogue) -> dict[str, Any]:
    where = path or ROOT
    if not isinstance(obj, dict):
        raise InvalidInput(where, f'expected a group object {{"op": "and", "rules": [...]}}, got {_kind(obj)}')
    if "rules" not in obj and ("field" in obj or "operator" in obj):
        raise InvalidInput(where, 'a segment is one group: wrap the condition as {"op": "and", "rules": [condition]}')
    _no_extra_keys(obj, ("op", "not", "rules"), where)
    if depth > MAX_DEPTH:
        raise InvalidInput(where, TOO_DEEP)
    op = obj.get("op")
    if not isinstance(op, str) or op.lower() not in ("and", "or"):
        raise InvalidInput(_at(path, "op"), f'op must be "and" or "or", got {_show(op)}')
    negate = obj.get("not", False)
    if not isinstance(negate, bool):
        raise InvalidInput(_at(path, "not"), f"not must be true or false, got {_show(negate)}")
    rules = obj.get("rules")
    if not isinstance(rules, list):
        raise InvalidInput(_at(path, "rules"), f"rules must be a list of conditions and groups, got {_kind(rules)}")
    if not rules:
        raise InvalidInput(_at(path, "rules"), "empty group: add at least one condition, or remove the group")
    parsed = []
    for i, item in enumerate(rules):
        at = f"{_at(path, 'rules')}[{i}]"
        if isinstance(item, dict) and ("rules" in item or "op" in item):
            parsed.append(_group(item, at, depth + 1, counter, fields))
        elif isinstance(item, dict):
            counter[0] += 1
            if counter[0] > MAX_CONDITIONS:
                raise InvalidInput(at, f"too many conditions (at most {MAX_CONDITIONS})")
            parsed.append(_condition(item, at, fields))
        else:
            raise InvalidInput(
                at,
                'each rule is a condition {"field", "operator", "value"} '
                f'or a group {{"op", "rules"}}, got {_kind(item)}',
            )
    return {"op": op.lower(), "not": negate, "rules": parsed}


def _condition(obj: dict[str, Any], path: str, fields: Catalogue) -> dict[str, Any]:
    _no_extra_keys(obj, ("field", "operator", "value", "within_days"), path)
    name = obj.get("field")
    if not isinstance(name, str) or name not in fields:
        raise InvalidInput(_at(path, "field"), _unknown_field(name, fields))
    field = fields[name]
    key = obj.get("operator")
    allowed = [o.key for o in operators_for(field.type)]
    if not isinstance(key, str) or key not in allowed:
        what = "operator" if isinstance(key, str) and key in OPERATORS else "unknown operator"
        raise InvalidInput(
            _at(path, "operator"),
            f"{what} {_show(key)} does not apply to {name} ({field.type}); use one of: {', '.join(allowed)}",
        )
    operator = OPERATORS[key]
    element = TYPES[field.type].element
    value = _value(obj.get("value"), operator.shape, element, key, _at(path, "value"))
    if field.normalise is not None and key in NORMALISED_OPERATORS and value is not None:
        value = _normalised(value, field.normalise)
    out: dict[str, Any] = {"field": name, "operator": key}
    if value is not None:
        out["value"] = value
    window = obj.get("within_days")
    if window is not None:
        at = _at(path, "within_days")
        if not field.windowable:
            raise InvalidInput(at, f"within_days applies only to {', '.join(WINDOW_FIELDS)}, not {name}; remove it")
        out["within_days"] = _whole(window, at, "within_days", minimum=1)
    return out


NORMALISED_OPERATORS = ("=", "!=", "in", "not_in")


def _unknown_field(name: Any, fields: Catalogue) -> str:
    built_in = ", ".join(n for n in fields if n in FIELDS)
    custom = [n for n in fields if n not in FIELDS]
    if isinstance(name, str) and name.startswith("attr."):
        known = f"this workspace's attributes: {', '.join(custom)}" if custom else "this workspace has none yet"
        return (
            f"unknown attribute {_show(name)} ({known}); register it on the Data page or with "
            'import --attribute "Label=type"'
        )
    more = f"; custom attributes: {', '.join(custom)}" if custom else ""
    return f"unknown field {_show(name)}; valid fields: {built_in}{more}"


def _normalised(value: Any, normalise: Callable[[str], str | None]) -> Any:
    """A rule value read as the stored values were (gender "F" -> "female"). A value the table
    does not know stays as written and compares as text, as before: saved segments on values a
    workspace held before its migration keep working."""
    texts = value if isinstance(value, list) else [value]
    out = []
    for text in texts:
        try:
            read = normalise(text)
        except ValueError:
            read = None
        out.append(read or text)
    return list(dict.fromkeys(out)) if isinstance(value, list) else out[0]


def _value(value: Any, shape: str, element: str, key: str, at: str) -> Any:
    if shape == NONE:
        if value not in (None, "", []):  # an empty placeholder from a form or a model is fine
            raise InvalidInput(at, f"{key} takes no value; remove value")
        return None
    if value is None:
        raise InvalidInput(at, f"{key} needs {_shape_help(shape, element)}")
    if shape == ONE:
        return _scalar(value, element, at)
    if shape == DAYS:
        return _whole(value, at, "the number of days", minimum=0)
    if not isinstance(value, list):
        raise InvalidInput(at, f"{key} needs {_shape_help(shape, element)}, got {_kind(value)}")
    if shape == PAIR:
        if len(value) != 2:
            raise InvalidInput(at, f"between needs [low, high] (2 values), got {len(value)}")
        lo, hi = (_scalar(v, element, f"{at}[{i}]") for i, v in enumerate(value))
        if _comparable(lo, element) > _comparable(hi, element):
            raise InvalidInput(at, f"between needs low <= high, got [{_show(lo)}, {_show(hi)}]; swap them")
        return [lo, hi]
    assert shape == MANY
    if not value:
        raise InvalidInput(at, f"{key} needs at least one value")
    if len(value) > MAX_LIST:
        raise InvalidInput(at, f"too many values ({len(value)}; at most {MAX_LIST})")
    return [_scalar(v, element, f"{at}[{i}]") for i, v in enumerate(value)]


def _scalar(value: Any, element: str, at: str) -> Any:
    if isinstance(value, (list, tuple, dict, set)):
        raise InvalidInput(at, f"expected {_element_help(element)}, got {_kind(value)}")
    if element == "text":
        return _text(value, at)
    if element == "date":
        return _date(value, at).isoformat()
    if element == "yesno":
        return _yes_no(value, at)
    number = _number(value, at, element)
    if element == "decimal":
        return int(number) if number == number.to_integral_value() else float(number)
    if element == "integer":
        if number != number.to_integral_value():
            raise InvalidInput(at, f"expected a whole number, got {_show(value)}")
        return int(number)
    if number != number.quantize(Decimal("0.01")):
        raise InvalidInput(at, f"amounts have at most 2 decimals (paise), got {_show(value)}")
    return int(number) if number == number.to_integral_value() else float(number)


_YES_NO = {"true": True, "yes": True, "y": True, "false": False, "no": False, "n": False}


def _yes_no(value: Any, at: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _YES_NO:
        return _YES_NO[value.strip().lower()]
    raise InvalidInput(at, f"expected yes or no (true or false), got {_kind(value)}")


def _number(value: Any, at: str, element: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise InvalidInput(at, f"expected {_element_help(element)}, got {_kind(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(at, f"expected a finite number, got {value}")
    number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite():
        raise InvalidInput(at, f"expected a finite number, got {value}")
    limit = MAX_RUPEES if element == "money" else MAX_NUMBER
    if abs(number) > limit:
        raise InvalidInput(at, f"{_show(value)} is out of range; use a number between -{limit:,} and {limit:,}")
    return number + 0  # -0 -> 0


def _text(value: Any, at: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(at, f"expected text, got {_kind(value)}")
    if len(value) > MAX_TEXT:
        raise InvalidInput(at, f"text is too long ({len(value)} characters; at most {MAX_TEXT})")
    unpaired = unpaired_surrogate(value)
    if unpaired is not None:
        raise InvalidInput(
            at,
            f"text has a lone surrogate {ascii(value[unpaired])[1:-1]} at position "
            f"{unpaired}, which is half of a character, not text; send the "
            "whole character (or remove it)",
        )
    if not value.strip():
        raise InvalidInput(at, "text is empty; use is_empty to find customers without a value")
    return value.strip()


def _date(value: Any, at: str) -> date:
    if isinstance(value, datetime):
        return _utc_day(value)
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) <= 40:
        text = value.strip()
        try:
            return (
                date.fromisoformat(text)
                if len(text) == 10
                else _utc_day(datetime.fromisoformat(text.replace("Z", "+00:00")))
            )
        except ValueError:
            pass
    raise InvalidInput(at, f'expected a date like "2024-03-01", got {_show(value)}')


def unpaired_surrogate(text: str) -> int | None:
    """Where `text` holds half a UTF-16 pair (JSON "\\ud800" decodes to one), or None.

    Such a string cannot be stored or compared (UTF-8 has no encoding for it)."""
    for i, char in enumerate(text):
        if "\ud800" <= char <= "\udfff":
            return i
    return None


def _utc_day(moment: datetime) -> date:
    """A timestamp with an offset counts on its UTC date; one without is already UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date()


def _whole(value: Any, at: str, what: str, minimum: int) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (isinstance(value, float) and not (math.isfinite(value) and value.is_integer()))
    ):
        raise InvalidInput(at, f"{what} must be a whole number, got {_show(value)}")
    if not minimum <= value <= MAX_DAYS:
        raise InvalidInput(at, f"{what} must be between {minimum} and {MAX_DAYS:,}, got {_show(value)}")
    return int(value)


def _comparable(value: Any, element: str) -> Any:
    return date.fromisoformat(value) if element == "date" else Decimal(str(value))


def _no_extra_keys(obj: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    extra = [k for k in obj if k not in allowed]
    if extra:
        raise InvalidInput(where, f"unexpected key {_show(extra[0])}; allowed keys: {', '.join(allowed)}")


def _shape_help(shape: str, element: str) -> str:
    one = _element_help(element)
    return {
        ONE: one,
        PAIR: f"[low, high] where each is {one}",
        MANY: f"a list, each {one}",
        DAYS: "a whole number of days",
    }[shape]


def _element_help(element: str) -> str:
    return {
        "integer": "a whole number",
        "decimal": "a number",
        "yesno": "true or false",
        "money": "an amount in rupees (a number)",
        "text": "text",
        "date": 'a date like "2024-03-01"',
    }[element]


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, str):
        return f"text {_show(value)}"
    if isinstance(value, (int, float, Decimal)):
        return f"the number {_show(value)}"
    kinds: dict[type, str] = {list: "a list", tuple: "a list", dict: "an object", set: "a set"}
    return kinds.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False) if not isinstance(value, float) else repr(value)
    # A lone surrogate would make the message itself unprintable (and the API's body unencodable).
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= 60 else text[:57] + "..."


# --- typed values for the compiler and the reference evaluator ------------------------------


def typed_value(condition: Condition) -> Any:
    """The condition's value as compared: int (numbers), int paise (money), str, date, or a
    tuple of these for [lo, hi] and lists; None when the operator takes no value."""
    element = TYPES[condition.spec.type].element
    shape = OPERATORS[condition.operator].shape
    value = condition.value
    if shape in (NONE, DAYS):
        return value
    if shape in (PAIR, MANY):
        return tuple(_typed(v, element) for v in value)
    return _typed(value, element)


def _typed(value: Any, element: str) -> Any:
    if element == "money":
        return int(Decimal(str(value)) * 100)
    if element == "date":
        return date.fromisoformat(value)
    if element == "decimal":
        return float(value)
    return value
