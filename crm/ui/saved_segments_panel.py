"""Saved segments on the Segments page: the list with each one's last count, open, duplicate,
rename and delete (confirmed), and saving the builder's rule as a new segment or over the open one.

The panel's buttons act in callbacks, which run before the page is drawn: the list, the segment
chosen in it, the one open and the builder are then drawn once, agreeing. Open, Duplicate and
Save-as-new make a segment both open and chosen; Open and Duplicate load its rule into the
builder; saving keeps the builder as it is. What a callback has to say is shown where it acted.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

import streamlit as st

from crm import analytics
from crm.auth import allowed
from crm.auth.users import User
from crm.errors import CRMError
from crm.formats.indian_numbers import as_text, format_count
from crm.segments import (
    SavedSegment,
    create_segment,
    delete_segment,
    duplicate_segment,
    get_segment,
    list_segments,
    record_count,
    update_segment,
)
from crm.store.documents import Database
from crm.ui.builder_state import CHOICE, OPEN_ID, NotReady, builder_rule, load_into_builder
from crm.ui.errors import show_error

CONFIRM_DELETE, NOTICE = "seg_confirm_delete", "seg_notice"  # a delete awaiting its confirmation; a callback's message


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "not counted yet"
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return f"{moment.astimezone(UTC):%d %b %Y %H:%M} UTC"


def action(place: str):
    """A panel callback: the message it returns, or what it raises, is shown at `place` ("list"
    or "save") when the page is drawn."""

    def decorate(act):
        @functools.wraps(act)
        def run(*args) -> None:
            try:
                message = act(*args)
            except NotReady as exc:
                st.session_state[NOTICE] = (place, "warning", str(exc))
            except Exception as exc:  # noqa: BLE001 - shown by show_error, as errors_shown does
                st.session_state[NOTICE] = (place, "error", exc)
            else:
                if message:
                    st.session_state[NOTICE] = (place, "success", message)

        return run

    return decorate


def show_notice(place: str) -> None:
    notice = st.session_state.get(NOTICE)
    if notice is None or notice[0] != place:
        return
    del st.session_state[NOTICE]
    _, kind, message = notice
    if kind == "error":
        show_error(message)
    elif kind == "warning":
        st.warning(as_text(message))
    else:
        st.success(as_text(message), icon=":material/check:")


def save_and_count(db: Database, segment_id: str, rule: Any) -> None:
    record_count(db, segment_id, analytics.preview(rule, sample=0).count)


def open_in_builder(db: Database, segment: SavedSegment, offered: Any) -> None:
    """`segment` becomes the open one, the one chosen in the list and the builder's rule."""
    load_into_builder(segment.rules, offered, segment.id)
    st.session_state[CHOICE] = segment.id
    save_and_count(db, segment.id, segment.rules)


@action("list")
def open_segment(db: Database, segment_id: str, offered: Any) -> None:
    open_in_builder(db, get_segment(db, segment_id), offered)


@action("list")
def duplicate(db: Database, user: User, segment_id: str, offered: Any) -> str:
    copy = duplicate_segment(db, segment_id, owner=user.username, by=user)
    open_in_builder(db, copy, offered)
    return f"Made “{copy.name}”; it is open in the builder."


@action("list")
def ask_to_delete(segment_id: str) -> None:
    st.session_state[CONFIRM_DELETE] = segment_id


@action("list")
def cancel_delete() -> None:
    st.session_state[CONFIRM_DELETE] = None


@action("list")
def delete(db: Database, user: User, segment_id: str, name: str) -> str:
    st.session_state[CONFIRM_DELETE] = None
    delete_segment(db, segment_id, by=user)
    if st.session_state.get(OPEN_ID) == segment_id:
        st.session_state[OPEN_ID] = None  # the builder keeps the rule, now saved nowhere
    st.session_state.pop(CHOICE, None)  # the list then chooses the open segment, or the first
    return f"Deleted “{name}”."


@action("list")
def rename(db: Database, user: User, segment_id: str) -> str:
    renamed = update_segment(db, segment_id, name=st.session_state.get("rename-name", ""), by=user)
    return f"Renamed to “{renamed.name}”."


@action("save")
def save_changes(db: Database, user: User, segment_id: str) -> str:
    rule = builder_rule()
    saved = update_segment(db, segment_id, rules=rule, by=user)
    save_and_count(db, saved.id, rule)
    st.session_state[CHOICE] = saved.id
    return f"Saved changes to “{saved.name}”."


@action("save")
def save_as_new(db: Database, user: User) -> str:
    rule = builder_rule()
    saved = create_segment(db, st.session_state.get("save-name", ""), rule, owner=user.username, by=user)
    save_and_count(db, saved.id, rule)
    st.session_state[OPEN_ID] = st.session_state[CHOICE] = saved.id
    return f"Saved “{saved.name}”."


def open_segment_or_none(db: Database) -> SavedSegment | None:
    open_id = st.session_state.get(OPEN_ID)
    if not open_id:
        return None
    try:
        return get_segment(db, open_id)
    except CRMError:  # deleted meanwhile (elsewhere): nothing is open any more
        st.session_state[OPEN_ID] = None
        return None


def save_panel(db: Database, user: User) -> None:
    show_notice("save")
    opened = open_segment_or_none(db)
    if opened:
        st.caption(f"Open: **{as_text(opened.name)}**")
        st.button(
            f"Save changes to “{as_text(opened.name)}”",
            type="primary",
            key="save-changes",
            icon=":material/save:",
            on_click=save_changes,
            args=(db, user, opened.id),
        )
    with st.form("save-new", clear_on_submit=True, border=False):
        st.text_input("Name", placeholder="e.g. Big spenders in Mumbai", key="save-name")
        st.form_submit_button("Save as a new segment", icon=":material/add:", on_click=save_as_new, args=(db, user))


def saved_segments_panel(db: Database, user: User, offered: Any, may_save: bool) -> None:
    st.subheader("Saved segments")
    show_notice("list")
    segments = list_segments(db)
    if not segments:
        st.caption("None yet." + (" Build a rule and save it below." if may_save else ""))
        return
    st.dataframe(
        [
            {
                "Name": s.name,
                "Customers": None if s.last_count is None else format_count(s.last_count),
                "Counted": _when(s.last_counted_at),
            }
            for s in segments
        ],
        hide_index=True,
        width="stretch",
        key="segment-list",
    )
    by_id = {s.id: s for s in segments}
    if st.session_state.get(CHOICE) not in by_id:  # first visit, or the chosen one was deleted
        open_id = st.session_state.get(OPEN_ID)
        st.session_state[CHOICE] = open_id if open_id in by_id else segments[0].id
    chosen = by_id[st.selectbox("Segment", list(by_id), format_func=lambda i: by_id[i].name, key=CHOICE)]
    st.caption(as_text(chosen.description))
    st.button(
        "Open in the builder",
        key="segment-open",
        icon=":material/open_in_new:",
        type="primary",
        on_click=open_segment,
        args=(db, chosen.id, offered),
    )
    if not may_save:
        st.caption(
            f"Your role ({user.role}) can open segments but not change them"
            + ("." if allowed(user, "data.export") else " or export their customers.")
        )
        return
    if st.session_state.get(CONFIRM_DELETE) == chosen.id:
        st.warning(f"Delete “{as_text(chosen.name)}”? This cannot be undone.")
        yes, no = st.columns(2)
        yes.button(
            "Yes, delete",
            type="primary",
            key="segment-delete-yes",
            on_click=delete,
            args=(db, user, chosen.id, chosen.name),
        )
        no.button("Cancel", key="segment-delete-no", on_click=cancel_delete)
        return
    dup, remove = st.columns(2)
    dup.button(
        "Duplicate",
        key="segment-duplicate",
        icon=":material/content_copy:",
        on_click=duplicate,
        args=(db, user, chosen.id, offered),
    )
    remove.button("Delete", key="segment-delete", icon=":material/delete:", on_click=ask_to_delete, args=(chosen.id,))
    with st.form("rename", clear_on_submit=True, border=False):
        st.text_input("New name", key="rename-name")
        st.form_submit_button("Rename", icon=":material/edit:", on_click=rename, args=(db, user, chosen.id))
