"""DuckDB analytic copy of customers and orders, kept fresh after every write."""

from __future__ import annotations


def after_write(kind: str) -> None:
    """The one call site every writer (CSV import, API, worker, demo) uses after a write.

    `kind` is "customers" or "orders". The analytic copy refreshes from its watermark here.
    """
    from crm.analytics.refresh import refresh_if_open

    refresh_if_open(kind)
