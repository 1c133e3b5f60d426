"""Numbers as Indian readers write them: 12,34,567 and ₹1,299.50, lakh and crore.

Plain text functions, shared by the pages, message templates and status lines."""

from __future__ import annotations

import re


def group_indian(whole: int) -> str:
    """12345678 -> '1,23,45,678': the last three digits, then pairs."""
    sign, digits = ("-", str(-whole)) if whole < 0 else ("", str(whole))
    head, tail = digits[:-3], digits[-3:]
    pairs: list[str] = []
    while head:
        pairs.insert(0, head[-2:])
        head = head[:-2]
    return sign + ",".join([*pairs, tail])


def format_count(n: int) -> str:
    return group_indian(int(n))


def format_inr(paise: int, decimals: bool = True) -> str:
    """Integer paise -> '₹1,23,456.78' (exact: no floats on the way)."""
    paise = int(paise)
    sign, paise = ("-", -paise) if paise < 0 else ("", paise)
    rupees, rest = divmod(paise, 100)
    if not decimals:
        rupees += 1 if rest >= 50 else 0  # round half up to whole rupees
        return f"{sign}₹{group_indian(rupees)}"
    return f"{sign}₹{group_indian(rupees)}.{rest:02d}"


def format_inr_short(paise: int) -> str:
    """Large sums the way Indian dashboards show them: '₹4.25 Cr', '₹12.6 L', '₹8,450'."""
    rupees = int(paise) / 100
    size = abs(rupees)
    if size >= 1e7:
        return f"₹{rupees / 1e7:,.2f} Cr"
    if size >= 1e5:
        return f"₹{rupees / 1e5:.2f} L"
    return format_inr(paise, decimals=False)


# The marks that make markup: links and images need "[", autolinks ":" or "<", colours and
# emoji ":", LaTeX "$", emphasis "*", "_" and "~", code "`", tables "|", headings "#".
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>$~|:#])")


def as_text(value: object) -> str:
    """Data (a customer's name, a segment's name, a rule's English) for a Streamlit element that
    reads Markdown: each mark that makes markup escaped with a backslash (CommonMark), so a name like
    `![x](http://host/t.png)` shows as those characters, never as a remote image, a link, a
    colour (`:red[...]`), an emoji shortcode or LaTeX (`$...$`)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(value)).replace("\n", " ")
