"""Compile a rule to a WHERE clause over `customer_features AS f`, with `?` parameters only.

Every condition compiles to COALESCE(present AND (comparison), false): never NULL, so AND, OR and
NOT behave as two-valued logic and a missing value matches nothing but `is_empty`. Shorter forms
where they are equal: no presence test when the value is never missing or the comparison is NULL
for a missing value anyway, no COALESCE when neither side can be NULL, and days-to-today compared
as the day column against one constant day. Where NULL counts as false anyway and no `not`
is above a condition (the WHERE clause, the preview's CASE WHEN patterns) its COALESCE is left
off (`Fragment.loose`): the same rows, cheaper, and pushed into the scan.
`within_days N` joins (on the integer customer_idx) one aggregate of `completed_orders` whose
UTC day lies in [as_of - N, as_of] per distinct N (alias wN); a customer without such orders
gets 0 / 0 / missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, date, datetime
from string import Formatter
from typing import Any

from crm.errors import InvalidInput
from crm.segment_engine.catalogue import TYPES, Catalogue
from crm.segment_engine.codes import codable, condition_values
from crm.segment_engine.features import COMPLETED_ORDERS, TABLE
from crm.segment_engine.model import Condition, Group, parse_rule, typed_value
from crm.segment_engine.operators import DAYS, MANY, NONE, OPERATORS, PAIR
from crm.segment_engine.text_keys import text_key_sql


@dataclass(frozen=True)
class Fragment:
    """SQL text and the values of its `?` placeholders, in order."""

    sql: str
    params: tuple[Any, ...] = ()
    # The same test where NULL may stand for false: x alone for COALESCE(x, false), and for a
    # group without `not` its parts' loose forms. Where NULL already counts as false and nothing
    # negates it (CASE WHEN, a WHERE) it selects the same rows (AND and OR are monotone), costs
    # a third less to evaluate, and can be pushed into the scan.
    bare: Fragment | None = None

    @property
    def loose(self) -> Fragment:
        return self.bare or self


def _never_null(x: Fragment) -> Fragment:
    """COALESCE(x, false), remembering x."""
    return Fragment(f"COALESCE({x.sql}, false)", x.params, bare=x)


def _render(template: str, **parts: Fragment | str) -> Fragment:
    """Fill {name} slots in order, so each placeholder's params land where its SQL does."""
    sql: list[str] = []
    params: list[Any] = []
    for literal, name, _, _ in Formatter().parse(template):
        sql.append(literal)
        if name is not None:
            part = parts[name]
            if isinstance(part, Fragment):
                sql.append(part.sql)
                params.extend(part.params)
            else:
                sql.append(part)
    return Fragment("".join(sql), tuple(params))


def _join(parts: list[Fragment], glue: str) -> Fragment:
    return Fragment(glue.join(f"({p.sql})" for p in parts), tuple(v for p in parts for v in p.params))


@dataclass(frozen=True)
class CompiledRule:
    """A rule ready to run: `FROM from_sql WHERE where_sql` with `from_params + params`."""

    where_sql: str
    params: list[Any]
    joins: tuple[Fragment, ...] = ()  # window aggregates LEFT JOINed to f

    @property
    def from_sql(self) -> str:
        return " ".join([f"{TABLE} AS f", *(j.sql for j in self.joins)])

    @property
    def from_params(self) -> list[Any]:
        return [v for j in self.joins for v in j.params]

    def query(self, select: str = "f.customer_id", order_by: str | None = None) -> tuple[str, list[Any]]:
        """A whole SELECT over the audience; `select`/`order_by` are trusted SQL of the caller."""
        sql = f"SELECT {select} FROM {self.from_sql} WHERE {self.where_sql}"
        if order_by:
            sql += f" ORDER BY {order_by}"
        return sql, [*self.from_params, *self.params]

    def count_query(self) -> tuple[str, list[Any]]:
        return self.query("count(*)")


@dataclass(frozen=True)
class TopLevel:
    """The top-level rules of a group compiled one by one, for a waterfall in a single scan."""

    op: str
    negate: bool
    predicates: tuple[Fragment, ...]
    joins: tuple[Fragment, ...] = ()
    windows: tuple[Window, ...] = ()  # what the joins aggregate, to compute them once

    def where(self) -> Fragment:
        """The whole group (op and `not` applied) as one predicate for a WHERE clause (never
        NULL under a `not`; without one, NULL may stand for false)."""
        if self.negate:
            return _render("NOT ({w})", w=_join(list(self.predicates), f" {self.op.upper()} "))
        return _join([p.loose for p in self.predicates], f" {self.op.upper()} ")

    def waterfall_query(self) -> tuple[str, list[Any]]:
        """One row: total, then per rule its count alone, then the running count with the rules
        before it (combined with the group's op), then the audience (with `not` applied)."""
        glue = f" {self.op.upper()} "
        columns: list[Fragment] = [Fragment("count(*)")]
        columns += [_render("count(*) FILTER (WHERE {p})", p=p) for p in self.predicates]
        for i in range(1, len(self.predicates) + 1):
            columns.append(_render("count(*) FILTER (WHERE {p})", p=_join(list(self.predicates[:i]), glue)))
        whole = _join(list(self.predicates), glue)
        columns.append(
            _render("count(*) FILTER (WHERE NOT ({p}))" if self.negate else "count(*) FILTER (WHERE {p})", p=whole)
        )
        select = _join(columns, ", ")
        from_sql = " ".join([f"{TABLE} AS f", *(j.sql for j in self.joins)])
        return (f"SELECT {select.sql} FROM {from_sql}", [*select.params, *(v for j in self.joins for v in j.params)])


@dataclass(frozen=True)
class Window:
    """The aggregate of completed orders in a `within_days` window, LEFT JOINed to f as `alias`."""

    alias: str
    select: Fragment  # SELECT customer_idx, total_spend_paise, order_count ... GROUP BY customer_idx

    def join(self, source: str | None = None) -> Fragment:
        """The LEFT JOIN of this aggregate (inline, or from a table that already holds it)."""
        body = Fragment(source) if source else _render("({s})", s=self.select)
        return _render(f"LEFT JOIN {{b}} AS {self.alias} ON {self.alias}.customer_idx = f.customer_idx", b=body)


@dataclass
class _Context:
    as_of: date
    codes: Mapping[str, int] = dataclass_field(default_factory=dict)  # from resolve_codes
    windows: dict[int, Window] = dataclass_field(default_factory=dict)

    def today(self) -> Fragment:
        return Fragment("CAST(? AS DATE)", (self.as_of,))

    def window(self, days: int) -> str:
        """Alias of the aggregate of completed orders in [as_of - days, as_of] (UTC days)."""
        alias = f"w{days}"
        if days not in self.windows:
            self.windows[days] = Window(
                alias,
                Fragment(
                    "SELECT customer_idx, CAST(sum(amount) AS HUGEINT) AS total_spend_paise, count(*) AS order_count "
                    f"FROM {COMPLETED_ORDERS} WHERE day >= CAST(? AS DATE) AND day <= CAST(? AS DATE) "
                    "GROUP BY customer_idx",
                    (_days_before(self.as_of, days), self.as_of),
                ),
            )
        return alias

    def joins(self) -> tuple[Fragment, ...]:
        return tuple(w.join() for w in self.windows.values())


def _days_before(day: date, days: int) -> date:
    return date.fromordinal(max(1, day.toordinal() - days))


def _as_of(as_of: Any) -> date:
    if isinstance(as_of, datetime):
        as_of = (as_of.astimezone(UTC) if as_of.tzinfo else as_of).date()
    elif isinstance(as_of, str):
        try:
            as_of = date.fromisoformat(as_of.strip())
        except ValueError:
            raise InvalidInput("as_of", f"expected a date like 2024-03-01, got {as_of!r}") from None
    if not isinstance(as_of, date) or not 1000 <= as_of.year <= 9000:
        raise InvalidInput("as_of", f"expected a date between years 1000 and 9000, got {as_of!r}")
    return as_of


def compile_rule(
    group: Group | dict[str, Any],
    as_of: date,
    codes: Mapping[str, int] | None = None,
    fields: Catalogue | None = None,
) -> CompiledRule:
    """Compile a rule (validated again here, so a hand-built Group cannot inject anything).

    `codes` (from `resolve_codes` on the connection that will run the query) lets equality
    tests on coded fields compare integer codes; without them they compare text keys."""
    ctx = _Context(_as_of(as_of), codes or {})
    where = _group(parse_rule(group, fields), ctx).loose  # a WHERE clause: NULL counts as false
    return CompiledRule(where.sql, list(where.params), ctx.joins())


def top_level_predicates(
    group: Group | dict[str, Any],
    as_of: date,
    codes: Mapping[str, int] | None = None,
    fields: Catalogue | None = None,
) -> TopLevel:
    ctx = _Context(_as_of(as_of), codes or {})
    rule = parse_rule(group, fields)
    predicates = tuple(_rule(r, ctx) for r in rule.rules)
    return TopLevel(rule.op, rule.negate, predicates, ctx.joins(), tuple(ctx.windows.values()))


def _rule(rule: Group | Condition, ctx: _Context) -> Fragment:
    return _group(rule, ctx) if isinstance(rule, Group) else _condition(rule, ctx)


def _group(group: Group, ctx: _Context) -> Fragment:
    parts, glue = [_rule(r, ctx) for r in group.rules], f" {group.op.upper()} "
    body = _join(parts, glue)
    if group.negate:  # NOT needs its operand never NULL: no loose form
        return _render("NOT ({b})", b=body)
    return Fragment(body.sql, body.params, bare=_join([p.loose for p in parts], glue))


def _condition(cond: Condition, ctx: _Context) -> Fragment:
    field = cond.spec
    operator = OPERATORS[cond.operator]
    if codable(cond) and all(v in ctx.codes for v in condition_values(cond)):
        return _coded_condition(cond, ctx.codes)
    src = "f" if cond.within_days is None else ctx.window(cond.within_days)
    if field.days_to_today and operator.strict:
        as_days = _compare_days(cond, f"{src}.{field.column}", ctx.as_of)
        if as_days is not None:
            return as_days
    today = ctx.today()
    if field.never_missing and src == "f":  # the feature column already holds 0 or []
        value = Fragment(f"f.{field.column}")
    else:
        value = _render(field.value_sql or f"{{src}}.{field.column}", src=src, today=today)
    present = _render(field.present_sql or "{c} IS NOT NULL", c=value, src=src)
    per = _render(field.per, src=src) if field.per else None
    element = TYPES[field.type].element
    parts = _values(cond, element, per, ctx)
    comparison = _render(operator.sql[field.type], c=value, present=present, today=today, **parts)
    if operator.strict and field.never_missing and element in ("integer", "money"):
        return comparison  # a number compared with a bound number: never NULL
    if operator.tests_presence or field.never_missing or (operator.strict and field.present_sql is None):
        return _never_null(comparison)  # presence adds nothing here
    return _never_null(_render("({p}) AND ({x})", p=present, x=comparison))


def _coded_condition(cond: Condition, codes: Mapping[str, int]) -> Fragment:
    """The operator's string SQL over the field's integer code and the values' codes."""
    operator = OPERATORS[cond.operator]
    column = Fragment(f"f.{cond.spec.code_column}")
    values = [codes[v] for v in condition_values(cond)]
    if operator.shape == MANY:
        comparison = _render(operator.sql["string"], c=column, vs=Fragment("CAST(? AS INTEGER[])", (values,)))
    else:
        comparison = _render(operator.sql["string"], c=column, v=Fragment("CAST(? AS INTEGER)", (values[0],)))
    if operator.strict:  # NULL for a missing code already
        return _never_null(comparison)
    return _never_null(_render("({c} IS NOT NULL) AND ({x})", c=column, x=comparison))


# today - day <op> n  <=>  day <mirrored op> today - n
_MIRRORED = {"=": "=", "!=": "<>", ">": "<", ">=": "<=", "<": ">", "<=": ">="}


def _compare_days(cond: Condition, column: str, as_of: date) -> Fragment | None:
    """A whole-days-to-today comparison as a comparison of the day column with a constant day
    (no subtraction per row); None when such a day falls outside the calendar."""
    typed = typed_value(cond)
    if cond.operator == "between":
        latest, earliest = _shift(as_of, typed[0]), _shift(as_of, typed[1])
        if latest is None or earliest is None:
            return None
        return _never_null(Fragment(f"{column} >= CAST(? AS DATE) AND {column} <= CAST(? AS DATE)", (earliest, latest)))
    day = _shift(as_of, typed) if cond.operator in _MIRRORED else None
    if day is None:
        return None
    return _never_null(Fragment(f"{column} {_MIRRORED[cond.operator]} CAST(? AS DATE)", (day,)))


def _shift(day: date, days: int) -> date | None:
    ordinal = day.toordinal() - days
    return date.fromordinal(ordinal) if 1 <= ordinal <= date.max.toordinal() else None


def _values(cond: Condition, element: str, per: Fragment | None, ctx: _Context) -> dict[str, Any]:
    """Bound-value fragments for the operator's slots: v, lo/hi, vs or start."""
    shape = OPERATORS[cond.operator].shape
    typed = typed_value(cond)
    if shape == NONE:
        return {}
    if shape == DAYS:
        return {"start": Fragment("CAST(? AS DATE)", (_days_before(ctx.as_of, typed),))}
    if shape == MANY:  # lists only ever hold text
        key = text_key_sql("x")
        return {"vs": Fragment(f"list_transform(CAST(? AS VARCHAR[]), lambda x: {key})", (list(typed),))}

    def one(v: Any) -> Fragment:
        if element == "text":
            return Fragment(text_key_sql("CAST(? AS VARCHAR)"), (v,))
        if element == "date":
            return Fragment("CAST(? AS DATE)", (v,))
        if element == "decimal":
            return Fragment("CAST(? AS DOUBLE)", (v,))
        if element == "yesno":
            return Fragment("CAST(? AS BOOLEAN)", (v,))
        if per is not None:  # value = column / per: compare column with v * per, exactly
            return Fragment(f"(CAST(? AS HUGEINT) * {per.sql})", (v, *per.params))
        return Fragment("CAST(? AS BIGINT)", (v,))

    if shape == PAIR:
        return {"lo": one(typed[0]), "hi": one(typed[1])}
    return {"v": one(typed)}
