"""How strings compare in rules: trimmed of whitespace, lower-cased; empty means missing.

The same SQL expression normalises stored columns (when features are built) and rule values
(when a rule is compiled), so both sides of a comparison always agree.
"""

from __future__ import annotations

# Exactly the characters Python's str.isspace() accepts: RE2's \s lacks \v, \x1c-\x1f, \x85,
# and \p{Z} adds the Unicode space, line and paragraph separators.
_SPACE = r"[\s\x{0b}\x{1c}-\x{1f}\x{85}\p{Z}]"
_TRIM_PATTERN = f"^{_SPACE}+|{_SPACE}+$"


def text_key_sql(expr: str) -> str:
    """SQL turning a string expression into its comparison key (NULL when missing)."""
    return f"nullif(lower(regexp_replace({expr}, '{_TRIM_PATTERN}', '', 'g')), '')"
