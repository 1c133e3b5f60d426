"""Which MongoDB documents the analytic copy can load, from one table of field checks.

Documents written by hand, by an older version or before today's checks may hold what the copy
cannot use (an amount as text or as a float past int64, a date as a string, a number as a
customer id). One bad document must not stop a rebuild, so the copy reads every document
leniently (pymongoarrow's `allow_invalid`: a value of the wrong type becomes null), finds the
suspects among the Arrow rows (a required value null, a number out of its range), and asks
MongoDB for just those documents to say what is wrong with each. A filter on the server would
find them directly, but the embedded server evaluates one at 3-7 times the cost of the read.
What leniency cannot show: an optional value of the wrong type (a name that is a number, a
signup date as text) reads as missing and the customer is loaded without it; and pymongoarrow
reads a boolean as 0 or 1, so `amount: true` written by hand counts as 1 paisa. Ingestion
refuses both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)

# The Python types pymongo decodes a kind of value to, and the kind in words.
_TEXT = ((str,), "text")
_WHOLE = ((int,), "a whole number")
_DATE = ((datetime,), "a date")


@dataclass(frozen=True)
class Check:
    path: str  # dotted, as MongoDB reads it
    kind: tuple[tuple[type, ...], str]  # Python types, in words
    required: bool = False
    bounds: tuple[int, int] | None = None  # inclusive, for whole numbers
    list_of: bool = False  # an array of this kind (missing or null is an empty list)

    def problem(self, doc: dict) -> str | None:
        """Why `doc` fails this check, in words (None: it passes)."""
        value = _get(doc, self.path)
        if value is None:
            return f"{self.path} is missing" if self.required else None
        words = self.kind[1]
        if self.list_of:
            if not isinstance(value, list):
                return f"{self.path} should be a list of {words}, not {_describe(value)}"
            wrong = next((v for v in value if not self._is_kind(v)), _NONE)
            return None if wrong is _NONE else f"{self.path} holds {_describe(wrong)} (only {words} may be listed)"
        if not self._is_kind(value):
            return f"{self.path} should be {words}, not {_describe(value)}"
        if self.bounds is not None and not self.bounds[0] <= value <= self.bounds[1]:
            return f"{self.path} is out of range ({value:,})"
        return None

    def _is_kind(self, value: Any) -> bool:
        # bool is an int in Python but a separate BSON type: True is no amount
        return (
            isinstance(value, self.kind[0])
            and not isinstance(value, bool)
            and (not isinstance(value, int) or INT64[0] <= value <= INT64[1])
        )


_NONE = object()


def _get(doc: dict, path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"true/false ({value})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "…"
        return f"text {shown!r}"
    if isinstance(value, float):
        return f"a decimal number ({value!r})"
    if isinstance(value, (list, dict)):
        return "a list" if isinstance(value, list) else "a sub-document"
    if isinstance(value, int):
        return f"the number {value}"
    return f"a {type(value).__name__} ({str(value)[:40]})"


CHECKS: dict[str, tuple[Check, ...]] = {
    "customers": (
        Check("customer_id", _TEXT, required=True),
        *(Check(name, _TEXT) for name in ("name", "email", "phone", "city", "gender")),
        Check("age", _WHOLE, bounds=INT32),  # the copy's column is INTEGER
        Check("signup_date", _DATE),
        Check("tags", _TEXT, list_of=True),
        *(Check(f"consent.{channel}.status", _TEXT) for channel in ("email", "sms", "whatsapp")),
        Check("created_at", _DATE),
        Check("updated_at", _DATE),
    ),
    "orders": (
        Check("order_id", _TEXT, required=True),
        Check("customer_id", _TEXT, required=True),
        # Integer paise, never negative. pymongoarrow turns a float past int64 into int64's
        # minimum, which the bound then catches.
        Check("amount", _WHOLE, required=True, bounds=(0, INT64[1])),
        Check("status", _TEXT, required=True),
        Check("order_date", _DATE, required=True),
        Check("created_at", _DATE),
        Check("updated_at", _DATE),
    ),
}
ID_FIELD = {"customers": "customer_id", "orders": "order_id"}
# Only what the checks read is fetched for a bad document.
PROJECTION = {kind: {"_id": 1, **{c.path: 1 for c in checks}} for kind, checks in CHECKS.items()}


def suspects(kind: str, table: pa.Table) -> pa.ChunkedArray | pa.Array:
    """A mask of the rows of a leniently read table that may not be loaded (required values
    null, numbers out of range); `problems` on each document says whether and why."""
    mask = pa.array([False] * table.num_rows, pa.bool_())
    for check in CHECKS[kind]:
        if check.path not in table.column_names:
            continue  # nested (consent statuses): optional text, null when not text
        column = table[check.path]
        if check.required:
            mask = pc.or_(mask, pc.is_null(column))
        if check.bounds is not None:
            outside = pc.or_(pc.less(column, check.bounds[0]), pc.greater(column, check.bounds[1]))
            mask = pc.or_(mask, pc.fill_null(outside, False))
    return mask


def problems(kind: str, doc: dict) -> list[str]:
    """Every reason `doc` cannot be loaded (empty: it can)."""
    return [p for p in (check.problem(doc) for check in CHECKS[kind]) if p is not None]


def row_id(kind: str, doc: dict) -> str:
    """The document's own id when it is text, else its MongoDB _id (so it can be found)."""
    value = doc.get(ID_FIELD[kind])
    return value if isinstance(value, str) else f"_id {doc.get('_id')}"
