"""The import tab of the Data page: map a CSV file's columns onto ours, check every row before
anything is written, declare the customers' consent, then write behind a progress bar."""

from __future__ import annotations

import io

import pandas as pd
import streamlit as st

from crm.auth import allowed
from crm.auth.permissions import who_may
from crm.auth.users import User
from crm.config import load_settings
from crm.formats.indian_numbers import format_count
from crm.ingest.attribute_registry import planned, registered
from crm.ingest.consent import CHANNELS, CONSENT_LAW, describe_declared
from crm.ingest.csv_import import errors_to_csv, import_csv, read_header, suggest_mapping
from crm.ingest.date_columns import FileDates, detect_file_dates
from crm.ingest.preview import ImportPreview, first_rows_as_stored, preview_import
from crm.ingest.reading import DateFormat, Reading, workspace_reading
from crm.ingest.records import INPUT_FIELDS, REQUIRED_FIELDS, Kind
from crm.segment_engine.attributes import KINDS, PREFIX, Attribute, key_for
from crm.store.documents import Database
from crm.ui.data import current_version
from crm.ui.errors import errors_shown

IGNORE = "(ignore)"
NEW_ATTRIBUTE = "Keep as a custom attribute"
PREVIEW_ROWS = 10
PROBLEMS_SHOWN = 100  # rows of the report on the page; the downloadable CSV holds them all


ISO_ONLY = "ISO 8601 only (2024-03-15)"
FORMAT_LABELS: dict[str, DateFormat | None] = {
    ISO_ONLY: None,
    "Day first (15/03/2024)": "DD/MM/YYYY",
    "Month first (03/15/2024)": "MM/DD/YYYY",
    "Year first (2024/03/15)": "YYYY-MM-DD",
}


@st.cache_data(show_spinner="Checking every row...", max_entries=4)
def cached_preview(
    file_id: str,
    kind: Kind,
    mapping: tuple,
    reading: Reading,
    version: tuple,
    new_attributes: tuple,
    _db: Database,
    _data: bytes,
) -> ImportPreview:
    return preview_import(
        _db, kind, io.BytesIO(_data), dict(mapping), reading=reading, new_attributes=list(new_attributes)
    )


@st.cache_data(show_spinner="Reading the dates...", max_entries=4)
def cached_file_dates(file_id: str, mapping: tuple, date_attributes: tuple, _data: bytes) -> FileDates:
    return detect_file_dates(io.BytesIO(_data), dict(mapping), date_attributes)


def date_format_choice(
    file_id: str, mapping: dict[str, str], data: bytes, date_attributes: tuple[str, ...] = ()
) -> tuple[Reading, bool]:
    """How the file's dates are read, pre-chosen when its values decide; (reading, chosen). When
    they cannot decide the user must choose: nothing is guessed."""
    found = cached_file_dates(file_id, tuple(sorted(mapping.items())), date_attributes, data)
    settings = load_settings()
    if not found.columns:
        return workspace_reading(settings), True
    labels = list(FORMAT_LABELS)
    detected = next(label for label, form in FORMAT_LABELS.items() if form == found.date_format)
    choice = st.selectbox(
        "Dates in this file",
        labels,
        index=None if found.ambiguous else labels.index(detected),
        key=f"import-dates:{file_id}",
        placeholder="Choose how the file writes dates",
        help="ISO 8601 (2024-03-15, 2024-03-15T10:30:00+05:30) is always read; a time may follow "
        "a date (10:30, 22:30:05 or 10:30 pm)",
    )
    if found.ambiguous and choice is None:
        st.warning(f"Choose the date format: {found.explain()}.", icon=":material/event:")
        return workspace_reading(settings), False
    if found.explain() and not found.ambiguous:
        st.caption(f"Detected: {found.explain()}.")
    reading = workspace_reading(settings, FORMAT_LABELS[choice or ISO_ONLY])
    st.caption(reading.describe())
    return reading, True


def column_mapping(
    kind: Kind, header: list[str], file_id: str, attributes: tuple[Attribute, ...] = ()
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """One select box per column of the file, pre-filled with our guess; a column of customers
    may also be kept as a custom attribute (registered or new, with its type). Returns the
    mapping and the new attributes (column heading, type) to register when the import writes."""
    suggested = suggest_mapping(kind, header, attributes)
    custom = [a.name for a in attributes] if kind == "customers" else []
    options = [IGNORE, *INPUT_FIELDS[kind], *custom, *([NEW_ATTRIBUTE] if kind == "customers" else [])]
    labels = {a.name: f"{a.label} (attribute, {a.kind})" for a in attributes}
    required = ", ".join(REQUIRED_FIELDS[kind])
    st.markdown(f"**Map the file's columns onto ours** (required: {required})")
    if kind == "customers":
        st.caption(
            f"A column of your own (a loyalty tier, a preferred store) can be kept: choose "
            f"“{NEW_ATTRIBUTE}” and its type, then segment on it like any field."
        )
    mapping: dict[str, str] = {}
    new: list[tuple[str, str]] = []
    cols = st.columns(min(4, len(header)))
    for i, column in enumerate(header):
        guess = suggested.get(column, IGNORE)
        place = cols[i % len(cols)]
        choice = place.selectbox(
            column or f"(column {i + 1})",
            options,
            index=options.index(guess),
            key=f"map:{file_id}:{kind}:{i}",
            format_func=lambda option: labels.get(option, option),
        )
        if choice == NEW_ATTRIBUTE:
            kind_chosen = place.selectbox(
                f"Type of {column}", list(KINDS), key=f"map-kind:{file_id}:{i}", help="How its values are read"
            )
            with errors_shown():
                mapping[column] = PREFIX + key_for(column)
                new.append((column, kind_chosen))
        elif choice != IGNORE:
            mapping[column] = choice
    return mapping, new


def show_check(preview: ImportPreview, data: bytes, kind: Kind) -> None:
    report = preview.report
    cols = st.columns(3)
    cols[0].metric("Rows in the file", format_count(report.rows_read))
    cols[1].metric("Valid rows", format_count(preview.valid_rows))
    cols[2].metric("Rows with problems", format_count(preview.invalid_rows))
    if not report.rejected:
        st.success("Every row is valid.", icon=":material/check_circle:")
        return
    st.warning(
        f"{format_count(preview.invalid_rows)} rows have problems. Nothing has been saved yet.",
        icon=":material/report:",
    )
    # A table, not a data grid: its cells wrap, so a long reason is read in full.
    shown = report.rejected[:PROBLEMS_SHOWN]
    st.table(pd.DataFrame([{"row": e.row, "column": e.column, "reason": e.reason} for e in shown]).set_index("row"))
    if len(report.rejected) > PROBLEMS_SHOWN:
        st.caption(
            f"The first {PROBLEMS_SHOWN} of {format_count(len(report.rejected))} problems; the CSV below has every one."
        )
    st.download_button(
        "Download the rejected rows with reasons (CSV)",
        errors_to_csv(report.rejected, io.BytesIO(data)),
        file_name=f"rejected-{kind}.csv",
        mime="text/csv",
        icon=":material/download:",
    )


def declared_consent(mapping: dict[str, str]) -> tuple[frozenset[str], bool]:
    """The consent the user declares for the file's customers, and whether they confirmed it."""
    st.markdown("**Consent**")
    own = sorted(field.removeprefix("consent_") for field in mapping.values() if field.startswith("consent_"))
    if own:
        st.caption(
            f"The file's own consent columns decide for {', '.join(own)}; a declaration below fills "
            "only their empty cells."
        )
    channels = st.multiselect(
        "These customers agreed to be contacted by",
        list(CHANNELS),
        key="import-consent",
        help="Leave empty when they agreed to nothing you can show, or you do not know",
    )
    st.caption(CONSENT_LAW)
    if not channels:
        st.caption("Declared: none. Channels the file does not give stay unknown: never messaged.")
        return frozenset(), True
    confirmed = st.checkbox(
        f"I confirm these customers agreed to {', '.join(channels)} and we keep the record of "
        "how (e.g. the opt-in box of a sign-up form)",
        key="import-consent-confirmed",
    )
    return frozenset(channels), confirmed


def import_panel(db: Database, user: User) -> None:
    """Choose a file, map its columns, see every row checked, declare consent, then write."""
    if not allowed(user, "data.import"):
        st.info(
            f"Imports are for {who_may('data.import')}; you are signed in as a "
            f"{user.role}. Browse customers and orders in the other tabs.",
            icon=":material/lock:",
        )
        return
    kind: Kind = st.radio(
        "What does the file hold?",
        ["customers", "orders"],
        horizontal=True,
        format_func=str.capitalize,
        key="import-kind",
    )
    fields = ", ".join(INPUT_FIELDS[kind])
    uploaded = st.file_uploader(
        f"CSV file of {kind}",
        type=["csv"],
        key="import-file",
        help=f"UTF-8 CSV with a header row. Our fields: {fields}",
    )
    if uploaded is None:
        st.caption("Orders need their customers: import customers first.")
        return
    data = uploaded.getvalue()
    header = read_header(io.BytesIO(data))
    known = registered(db)
    mapping, new_attributes = column_mapping(kind, header, uploaded.file_id, known)
    pending = planned(db, new_attributes) if new_attributes else []
    dated = tuple(a.name for a in (*known, *pending) if a.kind == "date")
    reading, dates_chosen = date_format_choice(uploaded.file_id, mapping, data, dated)
    if not dates_chosen:
        return
    preview = cached_preview(
        uploaded.file_id,
        kind,
        tuple(sorted(mapping.items())),
        reading,
        current_version(db),
        tuple(new_attributes),
        db,
        data,
    )

    st.markdown(f"**First rows as they will be stored** ({PREVIEW_ROWS} at most)")
    st.caption(
        "After every normal form: dates in the workspace zone, amounts in rupees, genders as female, "
        "male or other, phones with their country code, cities in the workspace's spelling."
    )
    rows = first_rows_as_stored(
        kind, io.BytesIO(data), mapping, reading, db, limit=PREVIEW_ROWS, new_attributes=pending
    )
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")

    st.markdown("**Check**")
    show_check(preview, data, kind)
    skip = False
    if preview.report.rejected:
        skip = st.checkbox("Skip the invalid rows and import the valid ones", key="import-skip")
    consent, confirmed = declared_consent(mapping) if kind == "customers" else (None, True)
    can_import = preview.valid_rows > 0 and (skip or not preview.report.rejected) and confirmed
    if st.button(f"Import {kind}", type="primary", disabled=not can_import, icon=":material/upload:"):
        bar = st.progress(0.0, text="Writing...")

        def progress(done: int, total: int) -> None:
            bar.progress(
                done / total if total else 1.0, text=f"Writing {kind}: {format_count(done)} of {format_count(total)}"
            )

        report = import_csv(
            db,
            kind,
            io.BytesIO(data),
            mapping,
            skip_invalid=skip,
            progress=progress,
            by=user,
            consent=consent,
            file_name=uploaded.name,
            reading=reading,
            new_attributes=new_attributes,
        )
        bar.progress(1.0, text="Done")
        st.success(
            f"Imported {kind}: {format_count(report.inserted)} new, {format_count(report.updated)} updated, "
            f"{format_count(report.unchanged)} unchanged"
            + (f", {format_count(report.summary()['rejected_rows'])} rows skipped." if report.rejected else ".")
            + (f" Consent declared: {describe_declared(consent)}." if kind == "customers" else ""),
            icon=":material/check_circle:",
        )
