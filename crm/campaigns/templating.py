"""Message templates: `{{ placeholder }}` in Jinja2's sandbox, checked before anything is sent.

Unknown placeholders are errors when the template is compiled. A known field that is empty for a
customer is left undefined, so printing it raises (StrictUndefined) while `default(...)` and
`{% if %}` still work: a blank never slips into a sent message.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

from crm.analytics.audience_columns import COLUMNS
from crm.errors import InvalidInput

MAX_TEMPLATE_CHARS = 2_000
DERIVED = {"first_name": "the first word of name"}
# Everything a template may use: each customer column and feature once, plus derived values.
FIELDS: tuple[str, ...] = (*COLUMNS, *DERIVED)
DEFAULT_FILTERS = {"default", "d"}


class EmptyValue(StrictUndefined):
    """A known field with no value: false in `{% if %}`, replaced by `default`, an error when printed."""

    def __bool__(self) -> bool:
        return False


def _inr(value: Any) -> str:
    """`{{ total_spend | inr }}` -> ₹12,345.50 (Indian digit grouping)."""
    from crm.ui.format import format_inr

    if isinstance(value, EmptyValue) or value is None:
        return str(value)  # raises for an empty value, like printing it would
    return format_inr(int((Decimal(str(value)) * 100).to_integral_value()))


_env = SandboxedEnvironment(undefined=EmptyValue, autoescape=False)
_env.filters["inr"] = _inr


@dataclass(frozen=True)
class CompiledTemplate:
    source: str
    fields: frozenset[str]  # placeholders the template reads
    guarded: frozenset[str]  # fields every use of which has a default (never blank)
    template: Any  # jinja2.Template


def compile_template(source: str, location: str = "message") -> CompiledTemplate:
    """Parse and check a template; InvalidInput names the line or the unknown placeholder."""
    text = source or ""
    if not text.strip():
        raise InvalidInput(location, "the message is empty")
    if len(text) > MAX_TEMPLATE_CHARS:
        raise InvalidInput(location, f"at most {MAX_TEMPLATE_CHARS} characters, got {len(text)}")
    try:
        tree = _env.parse(text)
    except TemplateSyntaxError as exc:
        raise InvalidInput(f"{location} line {exc.lineno}", exc.message or "invalid template syntax") from None
    from jinja2 import meta

    used = meta.find_undeclared_variables(tree)
    unknown = sorted(used - set(FIELDS))
    if unknown:
        raise InvalidInput(location, _unknown_message(unknown[0]))
    return CompiledTemplate(text, frozenset(used), frozenset(_guarded(tree, used)), _env.from_string(tree))


def _unknown_message(name: str) -> str:
    close = difflib.get_close_matches(name, FIELDS, n=1)
    hint = f"did you mean {{{{ {close[0]} }}}}? " if close else ""
    return f"unknown placeholder {{{{ {name} }}}}; {hint}available: {', '.join(FIELDS)}"


def _guarded(tree: nodes.Template, used: set[str]) -> set[str]:
    """Fields whose every read sits directly inside a `default` filter."""
    wrapped = {id(f.node) for f in tree.find_all(nodes.Filter)
               if f.name in DEFAULT_FILTERS and isinstance(f.node, nodes.Name)}
    bare = {n.name for n in tree.find_all(nodes.Name) if n.ctx == "load" and id(n) not in wrapped}
    return used - bare


def is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or \
        (isinstance(value, (list, tuple)) and not value)


def context_for(row: dict[str, Any]) -> dict[str, Any]:
    """A customer row -> template variables; empty values are left out (undefined)."""
    values = dict(row)
    name = values.get("name")
    values["first_name"] = name.split()[0] if isinstance(name, str) and name.strip() else None
    context = {}
    for key, value in values.items():
        if is_empty(value):
            continue
        if isinstance(value, datetime):
            value = value.date()  # marketers write dates, not instants
        context[key] = value.isoformat() if isinstance(value, date) else value
    return context


def missing_fields(compiled: CompiledTemplate, row: dict[str, Any]) -> list[str]:
    """Fields the template prints without a default that are empty for this customer."""
    return sorted(f for f in compiled.fields - compiled.guarded if is_empty(_value(row, f)))


def _value(row: dict[str, Any], field: str) -> Any:
    if field == "first_name":
        name = row.get("name")
        return name.split()[0] if isinstance(name, str) and name.strip() else None
    return row.get(field)


class RenderError(Exception):
    """A message could not be rendered for one customer (says why, for the log row)."""


def render(compiled: CompiledTemplate, row: dict[str, Any]) -> str:
    try:
        return compiled.template.render(context_for(row))
    except TemplateError as exc:
        missing = missing_fields(compiled, row)
        if missing:
            raise RenderError(f"no value for {', '.join(missing)}") from None
        raise RenderError(str(exc) or type(exc).__name__) from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise RenderError(f"{type(exc).__name__}: {exc}") from None


def variant_for(customer_id: str, variants: int) -> int:
    """Which of several templates a customer gets: stable across restarts and processes."""
    if variants <= 1:
        return 0
    digest = hashlib.sha256(customer_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % variants
