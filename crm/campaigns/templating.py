"""Message templates: `{{ placeholder }}` in Jinja2's sandbox, checked before anything is sent.

Unknown placeholders are errors when the template is compiled. A known field that is empty for a
customer is left undefined, so printing it raises (StrictUndefined) while `default(...)` and
`{% if %}` still work: a blank never slips into a sent message.

A template can use the customer's fields, a short list of filters and a bounded `range`, nothing
else (Jinja's `lipsum`, `cycler`, `joiner`, `namespace` and `dict` are gone). Each message renders
under limits, so one template cannot exhaust the server: at most MAX_MESSAGE_CHARS characters out,
MAX_LOOP_ITERATIONS loop steps, MAX_CALL_DEPTH nested macro calls and MAX_RENDER_SECONDS; a text or
list made by `*`, `+`, `~` may be no longer than a message. Going past a limit is a RenderError
that says which limit, like any other message that cannot be rendered.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from crm.analytics.audience_columns import COLUMNS
from crm.errors import InvalidInput
from crm.formats.indian_numbers import format_inr

MAX_TEMPLATE_CHARS = 2_000
# Limits on one rendered message. 5,000 characters is a long email and ~30 SMS segments; a log
# row stays far below MongoDB's 16 MB document limit.
MAX_MESSAGE_CHARS = 5_000
MAX_LOOP_ITERATIONS = 10_000  # every `{% for %}` step of one message, nested loops included
MAX_RANGE = 100
MAX_CALL_DEPTH = 20
MAX_RENDER_SECONDS = 2.0
MAX_NUMBER_BITS = 256  # integers made by `*` and `**` (about 77 digits)
DERIVED = {"first_name": "the first word of name"}
# Everything a template may use: each customer column and feature once, plus derived values.
FIELDS: tuple[str, ...] = (*COLUMNS, *DERIVED)
DEFAULT_FILTERS = {"default", "d"}


class EmptyValue(StrictUndefined):
    """A known field with no value: false in `{% if %}`, replaced by `default`, an error when printed."""

    def __bool__(self) -> bool:  # type: ignore[override]  # Jinja's StrictUndefined raises here
        return False


def _inr(value: Any) -> str:
    """`{{ total_spend | inr }}` -> ₹12,345.50 (Indian digit grouping)."""
    if isinstance(value, EmptyValue) or value is None:
        return str(value)  # raises for an empty value, like printing it would
    return format_inr(int((Decimal(str(value)) * 100).to_integral_value()))


class RenderError(Exception):
    """A message could not be rendered for one customer (says why, for the log row)."""


class _Budget:
    """What one message may still spend; set by `render` for the duration of one render."""

    def __init__(self) -> None:
        self.iterations = MAX_LOOP_ITERATIONS
        self.depth = 0
        self.deadline = time.monotonic() + MAX_RENDER_SECONDS

    def step(self) -> None:
        self.iterations -= 1
        if self.iterations < 0:
            raise RenderError(f"the loops take more than {MAX_LOOP_ITERATIONS:,} steps in one message")
        self.check_time()

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise RenderError(f"the message takes longer than {MAX_RENDER_SECONDS:g} s to render")


_budget: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


def _current_budget() -> _Budget:
    budget = _budget.get()
    return budget if budget is not None else _Budget()  # outside `render`: limits per loop or call


def _limited(value: Any) -> Any:
    if isinstance(value, (str, list, tuple)) and len(value) > MAX_MESSAGE_CHARS:
        raise RenderError(
            f"a text or list in the template is longer than {MAX_MESSAGE_CHARS:,}, the most a message may have"
        )
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_NUMBER_BITS:
        raise RenderError("a number in the template is too large")
    return value


def _loop_guard(iterable: Iterable[Any]) -> Iterator[Any]:
    """Wrapped around every `{% for %}`: counts its steps against the message's budget."""
    budget = _current_budget()
    for item in iterable:
        budget.step()
        yield item


def _range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise RenderError(f"range() may give at most {MAX_RANGE} numbers, not {len(numbers):,}")
    return numbers


LOOP_GUARD = "_loop_guard"  # inserted around every loop by `_with_limits`; harmless if written by hand
SAFE_FILTERS = (
    "default",
    "d",
    "upper",
    "lower",
    "title",
    "capitalize",
    "trim",
    "truncate",
    "round",
    "int",
    "float",
    "abs",
    "length",
    "count",
    "first",
    "last",
    "join",
    "string",
)
SAFE_STR_METHODS = frozenset(
    {
        "upper",
        "lower",
        "title",
        "capitalize",
        "strip",
        "lstrip",
        "rstrip",
        "startswith",
        "endswith",
        "split",
        "isdigit",
        "isalpha",
    }
)


class _MessageEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, plus limits on what one message may build, loop over and call."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            _check_repeat(left, right)
            _check_repeat(right, left)
            if _is_int(left) and _is_int(right) and left.bit_length() + right.bit_length() > MAX_NUMBER_BITS:
                raise RenderError("a number in the template is too large")
        elif (
            operator == "**"
            and _is_int(left)
            and _is_int(right)
            and max(left.bit_length(), 1) * abs(right) > MAX_NUMBER_BITS
        ):
            raise RenderError("a number in the template is too large")
        elif operator == "%" and isinstance(left, str):
            raise RenderError("% formatting of text is not supported; write {{ placeholders }} instead")
        return _limited(super().call_binop(context, operator, left, right))

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str):
            return attr in SAFE_STR_METHODS
        return super().is_safe_attribute(obj, attr, value)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (Jinja's signature)
        budget = _current_budget()
        budget.check_time()
        if budget.depth >= MAX_CALL_DEPTH:
            raise RenderError(f"macros call each other more than {MAX_CALL_DEPTH} deep (a macro that calls itself?)")
        budget.depth += 1
        try:
            return _limited(super().call(__context, __obj, *args, **kwargs))
        finally:
            budget.depth -= 1


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_repeat(sequence: Any, times: Any) -> None:
    if isinstance(sequence, (str, list, tuple)) and _is_int(times) and len(sequence) * times > MAX_MESSAGE_CHARS:
        raise RenderError(
            f"a text or list repeated {times:,} times would be longer than {MAX_MESSAGE_CHARS:,}, "
            "the most a message may have"
        )


_env = _MessageEnvironment(undefined=EmptyValue, autoescape=False)
_env.globals.clear()
_env.globals["range"] = _range


def _size_checked(filter_function: Callable[..., Any]) -> Callable[..., Any]:
    """A filter whose result is held to the message's limits (a filter builds values too)."""

    @functools.wraps(filter_function)  # keeps Jinja's pass_* markers: the call stays the same
    def checked(*args: Any, **kwargs: Any) -> Any:
        return _limited(filter_function(*args, **kwargs))

    return checked


def _join(value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    """Jinja's `join`, refused before the text is built when it would pass the message limit
    (nested joins otherwise build millions of characters from a few short ones)."""
    if attribute is not None:
        raise RenderError("join(attribute=...) is not available in messages")
    items = [str(item) for item in _loop_guard(value)]
    if sum(map(len, items)) + len(str(d)) * max(0, len(items) - 1) > MAX_MESSAGE_CHARS:
        raise RenderError(f"a join would be longer than {MAX_MESSAGE_CHARS:,} characters, the most a message may have")
    return str(d).join(items)


_env.filters = {name: _size_checked(_env.filters[name]) for name in SAFE_FILTERS}
_env.filters["join"] = _join
_env.filters["inr"] = _inr
_env.filters[LOOP_GUARD] = _loop_guard
_env.filters["_limited"] = _limited
GLOBALS = frozenset(_env.globals)


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
        used = meta.find_undeclared_variables(tree) - GLOBALS
        unknown = sorted(used - set(FIELDS))
        if unknown:
            raise InvalidInput(location, _unknown_message(unknown[0]))
        guarded = _guarded(tree, used)
        template = _env.from_string(_with_limits(tree))
    except TemplateSyntaxError as exc:
        message = exc.message or "invalid template syntax"
        if message.startswith("No filter named"):
            message = (
                f"unknown filter {message.removeprefix('No filter named ').rstrip('.')}; "
                f"available: {', '.join(sorted({*SAFE_FILTERS, 'inr'}))}"
            )
        raise InvalidInput(f"{location} line {exc.lineno}", message) from None
    return CompiledTemplate(text, frozenset(used), frozenset(guarded), template)


def _with_limits(tree: nodes.Template) -> nodes.Template:
    """Count every loop step, and bound every `~` join, as the message renders."""
    for loop in tree.find_all(nodes.For):
        loop.iter = nodes.Filter(loop.iter, LOOP_GUARD, [], [], None, None, lineno=loop.lineno)
    for parent in list(tree.find_all(nodes.Node)):
        for name in parent.fields:
            child = getattr(parent, name, None)
            if isinstance(child, nodes.Concat):
                setattr(parent, name, nodes.Filter(child, "_limited", [], [], None, None, lineno=child.lineno))
            elif isinstance(child, list):
                setattr(
                    parent,
                    name,
                    [
                        nodes.Filter(c, "_limited", [], [], None, None, lineno=c.lineno)
                        if isinstance(c, nodes.Concat)
                        else c
                        for c in child
                    ],
                )
    return tree


def _unknown_message(name: str) -> str:
    close = difflib.get_close_matches(name, FIELDS, n=1)
    hint = f"did you mean {{{{ {close[0]} }}}}? " if close else ""
    return f"unknown placeholder {{{{ {name} }}}}; {hint}available: {', '.join(FIELDS)}"


def _guarded(tree: nodes.Template, used: set[str]) -> set[str]:
    """Fields whose every read sits directly inside a `default` filter."""
    wrapped = {
        id(f.node) for f in tree.find_all(nodes.Filter) if f.name in DEFAULT_FILTERS and isinstance(f.node, nodes.Name)
    }
    bare = {n.name for n in tree.find_all(nodes.Name) if n.ctx == "load" and id(n) not in wrapped}
    return used - bare


def is_empty(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, str) and not value.strip())
        or (isinstance(value, (list, tuple)) and not value)
    )


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


def render(compiled: CompiledTemplate, row: dict[str, Any]) -> str:
    budget = _Budget()
    token = _budget.set(budget)
    try:
        return _render_within(compiled, context_for(row), budget)
    except RenderError:
        raise
    except RecursionError:
        raise RenderError("the template nests too deeply (a macro that calls itself?)") from None
    except TemplateError as exc:
        missing = missing_fields(compiled, row)
        if missing:
            raise RenderError(f"no value for {', '.join(missing)}") from None
        raise RenderError(str(exc) or type(exc).__name__) from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise RenderError(f"{type(exc).__name__}: {exc}") from None
    finally:
        _budget.reset(token)


def _render_within(compiled: CompiledTemplate, context: dict[str, Any], budget: _Budget) -> str:
    parts, length = [], 0
    for part in compiled.template.generate(context):
        length += len(part)
        if length > MAX_MESSAGE_CHARS:
            raise RenderError(f"the message is longer than {MAX_MESSAGE_CHARS:,} characters")
        budget.check_time()
        parts.append(part)
    return "".join(parts)


def variant_for(customer_id: str, variants: int) -> int:
    """Which of several templates a customer gets: stable across restarts and processes."""
    if variants <= 1:
        return 0
    digest = hashlib.sha256(customer_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % variants
