"""Saved segments: named rules with an English description and their last audience count."""

from crm.segments.repository import (
    SavedSegment,
    create_segment,
    delete_segment,
    duplicate_segment,
    get_segment,
    get_segment_by_name,
    list_segments,
    record_count,
    update_segment,
)

__all__ = [
    "SavedSegment",
    "create_segment",
    "delete_segment",
    "duplicate_segment",
    "get_segment",
    "get_segment_by_name",
    "list_segments",
    "record_count",
    "update_segment",
]
