"""Segments: build a rule by dragging conditions and groups, watch the audience, save and export."""

import functools
import json
import textwrap
from datetime import UTC, datetime

import plotly.graph_objects as go
import streamlit as st
from streamlit_condition_tree import condition_tree

from crm import analytics
from crm.analytics.audience_columns import COLUMNS
from crm.analytics.segment_preview import Preview
from crm.auth import allowed
from crm.auth.permissions import who_may
from crm.errors import CRMError, InvalidInput
from crm.formats.indian_numbers import as_text, format_count, group_indian
from crm.segment_builder import (
    builder_config,
    download,
    rule_to_tree,
)
from crm.segment_builder.choices import value_choices, with_rule_values
from crm.segment_builder.download import audience_csv
from crm.segment_builder.reading import read_json, read_tree
from crm.segment_engine import describe_rule
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
from crm.ui import theme
from crm.ui.auth import require_user
from crm.ui.data import get_database
from crm.ui.errors import errors_shown, show_error

user = require_user()  # signed out: the sign-in form, and nothing of this page

# UI state (st.session_state): which tree the builder was last loaded with, a counter that
# remounts the widget when a rule is loaded (it reads `tree=` only when it mounts), the open
# saved segment, the one chosen in the list (the selectbox's key), a delete waiting for
# confirmation, what the last action has to say, and a large export prepared for download
# ((rule, columns), CSV bytes, time prepared).
GENERATION, LOADED, OPEN_ID, CHOICE, CONFIRM_DELETE, NOTICE, PREPARED_EXPORT = (
    "seg_generation",
    "seg_loaded_tree",
    "seg_open_id",
    "segment-choice",
    "seg_confirm_delete",
    "seg_notice",
    "seg_prepared_export",
)
EXPORT_DEFAULT = ["customer_id", "name", "email", "phone", "city", "total_spend", "order_count", "last_order_date"]


def builder_key() -> str:
    return f"segment-builder-{st.session_state.get(GENERATION, 0)}"


def current_tree():
    """The widget's tree; before it reports one (first run, or AppTest), the tree it was given."""
    return st.session_state.get(builder_key()) or st.session_state.get(LOADED)


def load_into_builder(rule_json: dict | None, offered, open_id: str | None = None) -> None:
    old = builder_key()
    st.session_state[LOADED] = rule_to_tree(rule_json, offered) if rule_json else None
    st.session_state[GENERATION] = st.session_state.get(GENERATION, 0) + 1
    st.session_state.pop(old, None)
    st.session_state[OPEN_ID] = open_id


@st.cache_data(show_spinner=False, max_entries=4)
def cached_choices(data_version: str) -> dict[str, list[str]]:
    return value_choices(analytics.open_copy().cursor())


# --- the live preview ----------------------------------------------------------------------


def _wrap(text: str, width: int = 38) -> str:
    return "<br>".join(textwrap.wrap(text, width)) or text


def waterfall_chart(result: Preview) -> go.Figure:
    """Each top-level condition: customers meeting it alone, and those left after it."""
    labels = [_wrap(f"{i + 1}. {step.label.removeprefix('Customers ')}") for i, step in enumerate(result.waterfall)]
    left = [step.remaining for step in result.waterfall]
    reached = "Left after this step" if result.combine == "and" else "Reached so far"
    fig = go.Figure(
        [
            go.Bar(
                name="Meeting this condition alone",
                y=labels,
                x=[s.alone for s in result.waterfall],
                orientation="h",
                marker_color=theme.ACCENT_LIGHT,
            ),
            go.Bar(
                name=reached,
                y=labels,
                x=left,
                orientation="h",
                marker_color=theme.ACCENT,
                text=[format_count(n) for n in left],
                textposition="auto",
            ),
        ]
    )
    if result.negated:
        fig.add_bar(
            name="Audience (the group is negated)",
            y=["Everyone else"],
            x=[result.count],
            orientation="h",
            marker_color=theme.WARNING,
            text=[format_count(result.count)],
        )
    fig.update_layout(
        barmode="group",
        height=120 + 70 * (len(labels) + result.negated),
        margin=dict(l=0, r=0, t=30, b=0),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0),
        yaxis=dict(autorange="reversed"),
        xaxis_title="Customers",
    )
    return fig


def spend_chart(result: Preview) -> go.Figure:
    def bin_label(low: int, high: int | None) -> str:
        return f"₹{group_indian(low)}+" if high is None else f"₹{group_indian(low)}–{group_indian(high)}"

    bins = result.spend_histogram
    fig = go.Figure(
        go.Bar(
            x=[bin_label(b.low_rupees, b.high_rupees) for b in bins],
            y=[b.customers for b in bins],
            marker_color=theme.ACCENT,
        )
    )
    fig.update_layout(
        height=280,
        margin=dict(l=0, r=0, t=10, b=0),
        yaxis_title="Customers",
        xaxis_title="Total spend on completed orders",
    )
    return fig


def show_preview(rule, english: str) -> Preview:
    with st.spinner("Counting..."):
        result = analytics.preview(rule)
    cols = st.columns(2, border=True)
    cols[0].metric("Customers in this segment", format_count(result.count))
    cols[1].metric(
        "Share of all customers",
        f"{result.share:.1%}",
        help=f"{format_count(result.count)} of {format_count(result.total_customers)}",
    )
    st.markdown(f"**In words:** {as_text(english)}")
    st.caption(f"As of {result.as_of.day} {result.as_of:%b %Y} (dates compare as UTC days)")
    chart, cities = st.columns([3, 2])
    with chart:
        st.caption("Where the audience drops (top-level conditions, in order)")
        st.plotly_chart(waterfall_chart(result), width="stretch", key="waterfall")
    with cities:
        st.caption("Top cities in this segment")
        if result.top_cities:
            st.dataframe(
                [{"City": c, "Customers": format_count(n)} for c, n in result.top_cities],
                hide_index=True,
                width="stretch",
            )
        else:
            st.write("No cities to show.")
    st.caption("Total spend of the customers in this segment")
    st.plotly_chart(spend_chart(result), width="stretch", key="spend")
    return result


def show_sample(result: Preview) -> None:
    st.caption(f"The first {len(result.sample)} customers of the segment, by customer ID")
    st.dataframe(
        result.sample,
        hide_index=True,
        width="stretch",
        column_config={
            "total_spend": st.column_config.NumberColumn("total_spend (₹)", format="%.2f"),
            "avg_order_value": st.column_config.NumberColumn("avg_order_value (₹)", format="%.2f"),
        },
    )


def show_export(rule_json: dict, count: int) -> None:
    if not allowed(user, "data.export"):
        st.caption(f"Exporting customers' data is for {who_may('data.export')}; you are signed in as a {user.role}.")
        return
    columns = st.multiselect("Columns", list(COLUMNS), default=EXPORT_DEFAULT, key="export-columns")
    if not columns:
        st.info("Choose at least one column to export.")
        return
    text = json.dumps(rule_json, sort_keys=True)
    label = f"Download CSV ({format_count(count)} customers)"
    if count <= download.PREPARE_ABOVE_ROWS:
        # Written when the button is clicked (on its own thread), streaming to a temp file.
        st.download_button(
            label,
            data=lambda: audience_csv(text, columns, by=user, db=db),
            file_name="segment.csv",
            mime="text/csv",
            icon=":material/download:",
            on_click="ignore",
            key="export-download",
        )
        return
    wanted = (text, tuple(columns))
    prepared = st.session_state.get(PREPARED_EXPORT)
    if prepared is None or prepared[0] != wanted:
        if not st.button(
            f"Prepare CSV ({format_count(count)} customers)", icon=":material/table_view:", key="export-prepare"
        ):
            return
        bar = st.progress(0.0, text="Writing the CSV…")

        def show(written: int, total: int) -> None:
            bar.progress(
                min(1.0, written / max(total, 1)),
                text=f"Writing the CSV… {format_count(written)} of {format_count(total)} customers",
            )

        prepared = (
            wanted,
            audience_csv(text, columns, on_rows=show, by=user, db=db),
            datetime.now(UTC).astimezone().strftime("%H:%M:%S"),
        )
        st.session_state[PREPARED_EXPORT] = prepared
        bar.empty()
    st.download_button(
        label,
        data=prepared[1],
        file_name="segment.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
        key="export-download",
    )
    st.caption(f"Prepared at {prepared[2]}; change the rule or the columns to prepare it again.")


@st.fragment
def builder_and_preview(config: dict) -> None:
    """The builder and everything that follows the rule; an edit reruns only this part."""
    # Mounted with the tree it holds, not the one last loaded: the browser remounts the component
    # whenever the layout above it changes, and it then starts from `tree=`.
    condition_tree(
        config,
        return_type="none",
        tree=current_tree(),
        key=builder_key(),
        min_height=420,
        placeholder="Add a condition, or open a saved segment.",
    )
    # "none" is no export format: the widget then sends only its tree, which we convert ourselves.
    reading = read_tree(current_tree())
    if reading.empty:
        st.info(
            "Add a condition to see who it finds: drag conditions to reorder them or into groups.",
            icon=":material/touch_app:",
        )
        return
    if reading.problem:
        st.warning(f"To see the audience, fix this: {reading.problem}", icon=":material/edit:")
        return
    rule_json = reading.rule.to_json()
    with errors_shown():
        english = describe_rule(reading.rule)
        result = show_preview(reading.rule, english)
        sample, as_json, export = st.tabs(["Sample", "Rule as JSON", "Export"])
        with sample:
            show_sample(result)
        with as_json:
            st.code(json.dumps(rule_json, indent=2, ensure_ascii=False), language="json")
        with export:
            show_export(rule_json, result.count)


# --- saved segments ------------------------------------------------------------------------
# The panel's buttons act in callbacks, which run before the page is drawn: the list, the
# segment chosen in it, the one open and the builder are then drawn once, agreeing. Open,
# Duplicate and Save-as-new make a segment both open and chosen; Open and Duplicate load its
# rule into the builder; saving keeps the builder as it is.


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "not counted yet"
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return f"{moment.astimezone(UTC):%d %b %Y %H:%M} UTC"


class NotReady(Exception):
    """The builder holds no complete rule to save (said as a warning)."""


def builder_rule():
    reading = read_tree(current_tree())
    if reading.empty:
        raise NotReady("The builder is empty: add a condition first.")
    if reading.problem:
        raise NotReady(f"Fix the rule first: {reading.problem}")
    return reading.rule


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


def save_and_count(db, segment_id: str, rule) -> None:
    record_count(db, segment_id, analytics.preview(rule, sample=0).count)


def open_in_builder(db, segment: SavedSegment, offered) -> None:
    """`segment` becomes the open one, the one chosen in the list and the builder's rule."""
    load_into_builder(segment.rules, offered, segment.id)
    st.session_state[CHOICE] = segment.id
    save_and_count(db, segment.id, segment.rules)


@action("list")
def open_segment(db, segment_id: str, offered) -> None:
    open_in_builder(db, get_segment(db, segment_id), offered)


@action("list")
def duplicate(db, segment_id: str, offered) -> str:
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
def delete(db, segment_id: str, name: str) -> str:
    st.session_state[CONFIRM_DELETE] = None
    delete_segment(db, segment_id, by=user)
    if st.session_state.get(OPEN_ID) == segment_id:
        st.session_state[OPEN_ID] = None  # the builder keeps the rule, now saved nowhere
    st.session_state.pop(CHOICE, None)  # the list then chooses the open segment, or the first
    return f"Deleted “{name}”."


@action("list")
def rename(db, segment_id: str) -> str:
    renamed = update_segment(db, segment_id, name=st.session_state.get("rename-name", ""), by=user)
    return f"Renamed to “{renamed.name}”."


@action("save")
def save_changes(db, segment_id: str) -> str:
    rule = builder_rule()
    saved = update_segment(db, segment_id, rules=rule, by=user)
    save_and_count(db, saved.id, rule)
    st.session_state[CHOICE] = saved.id
    return f"Saved changes to “{saved.name}”."


@action("save")
def save_as_new(db) -> str:
    rule = builder_rule()
    saved = create_segment(db, st.session_state.get("save-name", ""), rule, owner=user.username, by=user)
    save_and_count(db, saved.id, rule)
    st.session_state[OPEN_ID] = st.session_state[CHOICE] = saved.id
    return f"Saved “{saved.name}”."


def open_segment_or_none(db) -> SavedSegment | None:
    open_id = st.session_state.get(OPEN_ID)
    if not open_id:
        return None
    try:
        return get_segment(db, open_id)
    except CRMError:  # deleted meanwhile (elsewhere): nothing is open any more
        st.session_state[OPEN_ID] = None
        return None


def save_panel(db) -> None:
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
            args=(db, opened.id),
        )
    with st.form("save-new", clear_on_submit=True, border=False):
        st.text_input("Name", placeholder="e.g. Big spenders in Mumbai", key="save-name")
        st.form_submit_button("Save as a new segment", icon=":material/add:", on_click=save_as_new, args=(db,))


def saved_segments_panel(db, offered, may_save: bool) -> None:
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
            "Yes, delete", type="primary", key="segment-delete-yes", on_click=delete, args=(db, chosen.id, chosen.name)
        )
        no.button("Cancel", key="segment-delete-no", on_click=cancel_delete)
        return
    dup, remove = st.columns(2)
    dup.button(
        "Duplicate",
        key="segment-duplicate",
        icon=":material/content_copy:",
        on_click=duplicate,
        args=(db, chosen.id, offered),
    )
    remove.button("Delete", key="segment-delete", icon=":material/delete:", on_click=ask_to_delete, args=(chosen.id,))
    with st.form("rename", clear_on_submit=True, border=False):
        st.text_input("New name", key="rename-name")
        st.form_submit_button("Rename", icon=":material/edit:", on_click=rename, args=(db, chosen.id))


def paste_json_panel(offered) -> None:
    with st.expander("Paste a rule as JSON"):
        with st.form("paste-json", border=False):
            text = st.text_area(
                "Rule JSON",
                height=160,
                key="paste-text",
                placeholder='{"op": "and", "rules": [{"field": "city", "operator": "=", "value": "Pune"}]}',
            )
            if st.form_submit_button("Load into the builder", icon=":material/upload:"):
                try:
                    rule = read_json(text)
                except InvalidInput as exc:
                    st.warning(f"Not loaded: {exc.message}")
                else:
                    load_into_builder(rule.to_json(), offered, st.session_state.get(OPEN_ID))
                    st.rerun()


def describe_your_audience_slot() -> None:
    """A sentence -> a proposed rule with its count and changes; applied only on the user's click."""
    from crm.ui.describe_audience import describe_audience_panel

    describe_audience_panel(
        read_tree(current_tree()).rule,
        apply=lambda rule: load_into_builder(rule, set(choices), st.session_state.get(OPEN_ID)),
    )


# --- the page ------------------------------------------------------------------------------

st.title("Segments")
db = get_database()
may_save = allowed(user, "segment.save")
with errors_shown():
    with st.spinner("Preparing the analytic copy..."):
        copy = analytics.open_copy()
    choices = cached_choices(copy.data_version)
# The builder mounts with its current tree: offer the values in it even when the data has none.
held = read_tree(current_tree()).rule
choices = with_rule_values(choices, held.to_json() if held else None)
describe_your_audience_slot()
main, side = st.columns([7, 3], gap="large")
with side:
    with errors_shown():
        saved_segments_panel(db, set(choices), may_save)
    if may_save:
        st.subheader("Save")
        save_panel(db)
    paste_json_panel(set(choices))
with main:
    builder_and_preview(builder_config(choices))
