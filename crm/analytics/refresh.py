"""Incremental refresh of the analytic copy after a write, and a full rebuild on demand."""

from __future__ import annotations

from crm.analytics.analytic_copy import mark_changed, open_copy_if_any, rebuild_copy
from crm.config import load_settings
from crm.store.schema import RECORD_KINDS


def refresh_if_open(kind: str) -> None:
    """Tell other processes the data changed; refresh now if this process has the copy open.

    A process that has not opened the copy does no DuckDB work here: it opens (and catches up)
    on its first read instead.
    """
    if kind not in RECORD_KINDS:
        raise ValueError(f"after_write kind must be one of {RECORD_KINDS}, not {kind!r}")
    settings = load_settings()
    mark_changed(settings)
    copy = open_copy_if_any(settings)
    if copy is not None:
        copy.refresh()


def rebuild() -> None:
    """Recreate this process's copy (and the snapshot file) from MongoDB."""
    rebuild_copy()
