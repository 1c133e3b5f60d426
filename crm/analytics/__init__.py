"""DuckDB analytic copy of customers and orders, kept fresh after every write.

Readers call `open_copy()` (this process's copy, fresh) or `preview(rule)`; writers call
`after_write(kind)` once after each write of customers or orders.
"""

from __future__ import annotations


def after_write(kind: str) -> None:
    """The one call site every writer (CSV import, API, worker, demo) uses after a write.

    `kind` is "customers" or "orders". The analytic copy refreshes from its watermark here.
    """
    from crm.analytics.refresh import refresh_if_open

    refresh_if_open(kind)


def open_copy():
    """This process's analytic copy, opened on first use and refreshed when data changed."""
    from crm.analytics.analytic_copy import open_copy as _open

    return _open()


def rebuild() -> None:
    """Recreate the analytic copy from MongoDB (the system of record)."""
    from crm.analytics.refresh import rebuild as _rebuild

    _rebuild()


def preview(rule, as_of=None, sample: int = 50):
    """Count, waterfall, sample and summary of a segment rule; see `crm.analytics.segment_preview`."""
    from crm.analytics.segment_preview import preview as _preview

    return _preview(rule, as_of=as_of, sample=sample)
