"""Data: import CSV files (map columns, check, then write) and browse customers and orders."""

import io

import pandas as pd
import streamlit as st

from crm.analytics.browse import PAGE_SIZES, CustomerView, Page, customer_view, search
from crm.auth import allowed
from crm.auth.permissions import who_may
from crm.formats.indian_numbers import as_text, format_count, format_inr
from crm.ingest.consent import CHANNELS, CONSENT_LAW, describe_declared
from crm.ingest.csv_import import errors_to_csv, import_csv, read_header, read_rows, suggest_mapping
from crm.ingest.erasure import erase_customer
from crm.ingest.preview import ImportPreview, preview_import
from crm.ingest.records import INPUT_FIELDS, REQUIRED_FIELDS
from crm.ui.auth import require_user
from crm.ui.data import current_version, get_database
from crm.ui.errors import errors_shown

user = require_user()  # signed out: the sign-in form, and nothing of this page

IGNORE = "(ignore)"
PREVIEW_ROWS = 10


@st.cache_data(show_spinner="Checking every row...", max_entries=4)
def cached_preview(file_id: str, kind: str, mapping: tuple, version: tuple, _db, _data: bytes) -> ImportPreview:
    return preview_import(_db, kind, io.BytesIO(_data), dict(mapping))


@st.cache_data(show_spinner=False, max_entries=32)
def cached_search(db_key: str, version: tuple, kind: str, text: str, page: int, page_size: int, _db) -> Page:
    return search(_db, kind, text, page, page_size)


def db_key(db) -> str:
    return f"{db.client.address}/{db.name}"


def column_mapping(kind: str, header: list[str], file_id: str) -> dict[str, str]:
    """One select box per column of the file, pre-filled with our guess."""
    suggested = suggest_mapping(kind, header)
    options = [IGNORE, *INPUT_FIELDS[kind]]
    required = ", ".join(REQUIRED_FIELDS[kind])
    st.markdown(f"**Map the file's columns onto ours** (required: {required})")
    mapping: dict[str, str] = {}
    cols = st.columns(min(4, len(header)))
    for i, column in enumerate(header):
        guess = suggested.get(column, IGNORE)
        choice = cols[i % len(cols)].selectbox(
            column or f"(column {i + 1})", options, index=options.index(guess), key=f"map:{file_id}:{kind}:{i}"
        )
        if choice != IGNORE:
            mapping[column] = choice
    return mapping


def show_preview(preview: ImportPreview, data: bytes, kind: str) -> None:
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
    errors = pd.DataFrame([{"row": e.row, "column": e.column, "reason": e.reason} for e in report.rejected])
    st.dataframe(errors, hide_index=True, width="stretch", height=min(400, 40 + 35 * len(errors)))
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


def import_tab(db) -> None:
    if not allowed(user, "data.import"):
        st.info(
            f"Imports are for {who_may('data.import')}; you are signed in as a "
            f"{user.role}. Browse customers and orders in the other tabs.",
            icon=":material/lock:",
        )
        return
    kind = st.radio(
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
    mapping = column_mapping(kind, header, uploaded.file_id)
    preview = cached_preview(uploaded.file_id, kind, tuple(sorted(mapping.items())), current_version(db), db, data)

    st.markdown(f"**First rows as they will be read** ({PREVIEW_ROWS} at most)")
    rows = []
    for row in read_rows(io.BytesIO(data), mapping):
        rows.append(row if isinstance(row, dict) else {"problem": row.reason})
        if len(rows) == PREVIEW_ROWS:
            break
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")

    st.markdown("**Check**")
    show_preview(preview, data, kind)
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
        )
        bar.progress(1.0, text="Done")
        st.success(
            f"Imported {kind}: {format_count(report.inserted)} new, {format_count(report.updated)} updated, "
            f"{format_count(report.unchanged)} unchanged"
            + (f", {format_count(report.summary()['rejected_rows'])} rows skipped." if report.rejected else ".")
            + (f" Consent declared: {describe_declared(consent)}." if kind == "customers" else ""),
            icon=":material/check_circle:",
        )


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """Rupees from paise, dates as UTC text, tags as one string."""
    if "amount" in frame:
        frame["amount"] = frame["amount"].map(format_inr)
    for column in ("order_date", "signup_date"):
        if column in frame:
            frame[column] = frame[column].map(
                lambda when: when.strftime("%Y-%m-%d %H:%M UTC") if pd.notna(when) else ""
            )
    if "tags" in frame:
        frame["tags"] = frame["tags"].map(lambda tags: ", ".join(tags or []))
    return frame


def paging_controls(kind: str) -> tuple[str, int, int]:
    text_col, size_col, page_col = st.columns([4, 1, 1])
    text = text_col.text_input(
        "Search",
        key=f"{kind}-search",
        placeholder="id, name, email or city" if kind == "customers" else "order id, customer id or status",
    )
    page_size = size_col.selectbox("Page size", PAGE_SIZES, index=1, key=f"{kind}-size")
    page = page_col.number_input("Page", min_value=1, value=1, step=1, key=f"{kind}-page")
    return text, int(page), int(page_size)


def show_page(result: Page, kind: str) -> None:
    st.caption(
        f"{format_count(result.total)} {kind} found · page {result.page} of {format_count(result.pages)} · newest first"
    )
    if result.page > result.pages:
        st.info(f"There are only {result.pages} pages.")
        return
    frame = readable(pd.DataFrame(result.rows))
    st.dataframe(frame, hide_index=True, width="stretch")


def show_customer(db, view: CustomerView) -> None:
    customer = view.customer
    st.subheader(as_text(customer.get("name") or customer["customer_id"]), anchor=False)
    details = [customer["customer_id"], customer.get("email"), customer.get("phone"), customer.get("city")]
    st.text(" · ".join(str(part) for part in details if part))
    st.dataframe(pd.DataFrame(consent_rows(customer.get("consent"))), hide_index=True, width="stretch")
    cols = st.columns(4)
    cols[0].metric("Completed orders", format_count(view.completed_orders))
    cols[1].metric("Total spend", format_inr(view.total_spend_paise))
    cols[2].metric("Refunded", format_inr(view.refunded_paise))
    cols[3].metric("Cancelled orders", format_count(view.cancelled_orders))
    if view.orders:
        orders = readable(pd.DataFrame(view.orders)[["order_id", "order_date", "status", "amount"]])
        st.dataframe(orders, hide_index=True, width="stretch")
    else:
        st.caption("No orders yet.")
    if allowed(user, "customer.erase"):
        erase_panel(db, customer["customer_id"])


def consent_rows(consent: dict | None) -> list[dict]:
    rows = []
    for channel in CHANNELS:
        stored = (consent or {}).get(channel)
        stored = stored if isinstance(stored, dict) else {}
        when = stored.get("at")
        rows.append(
            {
                "channel": channel,
                "consent": stored.get("status") or "unknown",
                "source": stored.get("source") or "",
                "recorded": when.strftime("%Y-%m-%d %H:%M UTC") if when else "",
            }
        )
    return rows


def erase_panel(db, customer_id: str) -> None:
    with st.expander("Erase this customer", icon=":material/delete_forever:"):
        st.write(
            "Removes the customer and their orders for good, on their request (DPDP Act 2023 s.12, "
            "GDPR Art. 17). Messages already sent keep their row, with the address and text replaced, so "
            "campaign counts stay exact. This cannot be undone."
        )
        typed = st.text_input(f"Type {customer_id} to confirm", key=f"erase-confirm-{customer_id}")
        if st.button(
            "Erase for good",
            type="primary",
            disabled=typed.strip() != customer_id,
            key=f"erase-{customer_id}",
            icon=":material/delete_forever:",
        ):
            report = erase_customer(db, customer_id, by=user)
            st.session_state.pop("customer-open", None)
            st.session_state["erased-note"] = (
                f"Erased {customer_id}: {report.orders} orders removed, "
                f"{report.messages} messages turned into tombstones."
            )
            st.rerun()


def browse_tab(db, kind: str) -> None:
    if kind == "customers" and (note := st.session_state.pop("erased-note", None)):
        st.success(note, icon=":material/check_circle:")
    text, page, page_size = paging_controls(kind)
    result = cached_search(db_key(db), current_version(db), kind, text, page, page_size, db)
    show_page(result, kind)
    if kind == "customers" and result.rows:
        ids = [row["customer_id"] for row in result.rows]
        chosen = st.selectbox(
            "Open a customer",
            [None, *ids],
            key="customer-open",
            format_func=lambda cid: "Choose one from this page..." if cid is None else cid,
        )
        if chosen:
            show_customer(db, customer_view(db, chosen))


st.title("Data")
db = get_database()
import_, customers, orders = st.tabs(["Import", "Customers", "Orders"])
with import_, errors_shown():
    import_tab(db)
with customers, errors_shown():
    browse_tab(db, "customers")
with orders, errors_shown():
    browse_tab(db, "orders")
