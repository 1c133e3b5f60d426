"""The customers and orders tabs of the Data page: search and page through them, open one
customer with their consent, spend and orders, and erase them on request."""

from __future__ import annotations

import hashlib
from datetime import datetime

import pandas as pd
import streamlit as st

from crm.analytics.browse import PAGE_SIZES, CustomerView, Page, customer_view, search
from crm.auth import allowed
from crm.auth.users import User
from crm.formats.indian_numbers import as_text, format_count, format_inr
from crm.ingest.attribute_registry import registered
from crm.ingest.consent import CHANNELS
from crm.ingest.erasure import erase_customer
from crm.ingest.opt_out import OPTED_OUT_AT
from crm.segment_engine.attributes import Attribute
from crm.store.documents import Database
from crm.ui.data import current_version
from crm.ui.why_panel import why_panel


@st.cache_data(show_spinner=False, max_entries=32)
def cached_search(db_key: str, version: tuple, kind: str, text: str, page: int, page_size: int, _db: Database) -> Page:
    return search(_db, kind, text, page, page_size)


def db_key(db: Database) -> str:
    return f"{db.client.address}/{db.name}"


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """Rupees from paise, dates as UTC text, tags as one string, ages as whole numbers; missing
    text blank."""
    if "amount" in frame:
        frame["amount"] = frame["amount"].map(format_inr)
    for column in ("order_date", "signup_date"):
        if column in frame:
            frame[column] = frame[column].map(
                lambda when: when.strftime("%Y-%m-%d %H:%M UTC") if pd.notna(when) else ""
            )
    if "tags" in frame:
        # A customer stored without tags has NaN here, not a list.
        frame["tags"] = frame["tags"].map(lambda tags: ", ".join(tags) if isinstance(tags, list) else "")
    if "age" in frame:
        frame["age"] = whole_numbers(frame["age"])
    # Every other column is text; one nobody on the page has filled arrives as floats (NaN).
    text = [column for column in frame if column != "age"]
    frame[text] = frame[text].astype(object).fillna("")
    return frame


def whole_numbers(column: pd.Series) -> pd.Series:
    """Whole numbers stay whole when some are missing (pandas would make them floats: 30.0)."""
    try:
        return column.astype("Int64")
    except (TypeError, ValueError):  # a value written by hand that is no whole number: as it is
        return column


def shown(value: object) -> str:
    """A value as text, blank when it is missing."""
    return "" if pd.api.types.is_scalar(value) and pd.isna(value) else str(value)


def table(frame: pd.DataFrame) -> None:
    # Numbers stay numbers (so they sort as numbers); the table draws their missing cells blank.
    st.dataframe(frame, hide_index=True, width="stretch", placeholder="")


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


def show_page(result: Page, kind: str) -> list[int]:
    """The page as a table; on customers, the positions of the rows the user selected."""
    st.caption(
        f"{format_count(result.total)} {kind} found · page {result.page} of {format_count(result.pages)} · newest first"
    )
    if result.page > result.pages:
        st.info(f"There are only {result.pages} pages.")
        return []
    frame = readable(pd.DataFrame(result.rows))
    if kind != "customers" or not result.rows:
        table(frame)
        return []
    st.caption("Click the box at the start of a row to open the customer.")
    event = st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        placeholder="",
        on_select="rerun",
        selection_mode="single-row",
        key=customers_table_key(result.rows),
    )
    return list(event.selection.rows)


def customers_table_key(rows: list[dict]) -> str:
    """One key per set of customers shown. A selection is a row position, so it must not outlive
    the rows it points at: a new search, another page, an import that shifts the page or an
    erase each start the table afresh, with no customer open."""
    ids = "\n".join(row["customer_id"] for row in rows)
    return "customers-table-" + hashlib.sha256(ids.encode()).hexdigest()[:16]


def selected_customer(rows: list[dict], selected: list[int]) -> str | None:
    """The id of the customer in the selected row, if one is."""
    if len(selected) != 1 or not 0 <= selected[0] < len(rows):
        return None
    return rows[selected[0]]["customer_id"]


def show_customer(db: Database, view: CustomerView, user: User) -> None:
    customer = view.customer
    st.subheader(as_text(customer.get("name") or customer["customer_id"]), anchor=False)
    details = [shown(customer.get(name)) for name in ("customer_id", "email", "phone", "city")]
    st.text(" · ".join(part for part in details if part))
    own = attribute_line(customer.get("attributes") or {}, registered(db))
    if own:
        st.text(own)
    table(pd.DataFrame(consent_rows(customer.get("consent"))))
    history = customer.get("consent_history") or []
    if history:
        with st.expander(f"Consent history ({len(history)} change(s))", icon=":material/history:"):
            table(pd.DataFrame(history_rows(history)))
    cols = st.columns(4)
    cols[0].metric("Completed orders", format_count(view.completed_orders))
    cols[1].metric("Total spend", format_inr(view.total_spend_paise))
    cols[2].metric("Refunded", format_inr(view.refunded_paise))
    cols[3].metric("Cancelled orders", format_count(view.cancelled_orders))
    if view.orders:
        table(readable(pd.DataFrame(view.orders)[["order_id", "order_date", "status", "amount"]]))
    else:
        st.caption("No orders yet.")
    why_panel(db, view)
    if allowed(user, "customer.erase"):
        erase_panel(db, customer["customer_id"], user)


def attribute_line(values: dict, attributes: tuple[Attribute, ...]) -> str:
    """The customer's custom attributes, "Loyalty Tier: Gold · App User: yes" (the missing left out)."""
    parts = []
    for attribute in attributes:
        value = values.get(attribute.key)
        if value in (None, "", []):
            continue
        if isinstance(value, bool):
            text = "yes" if value else "no"
        elif isinstance(value, list):
            text = ", ".join(value)
        elif isinstance(value, datetime):
            text = f"{value:%d %b %Y}"
        elif isinstance(value, float):
            text = f"{value:g}"
        else:
            text = str(value)
        parts.append(f"{attribute.label}: {text}")
    return " · ".join(parts)


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
                # Their own opt-out: no import or API write of "yes" turns it back on.
                "opted out": "yes, by the customer" if stored.get(OPTED_OUT_AT) else "",
            }
        )
    return rows


def history_rows(history: list[dict]) -> list[dict]:
    """Every consent change, newest first; an opt-out the customer made says so."""
    rows = []
    for entry in reversed(history):
        when = entry.get("at")
        rows.append(
            {
                "recorded": when.strftime("%Y-%m-%d %H:%M UTC") if when else "",
                "channel": entry.get("channel", ""),
                "consent": entry.get("status", ""),
                "source": entry.get("source") or "",
                "opt-out by the customer": "yes" if entry.get(OPTED_OUT_AT) else "",
            }
        )
    return rows


def erase_panel(db: Database, customer_id: str, user: User) -> None:
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
            # The erased customer leaves the page, so the table gets a new key and nobody is open.
            report = erase_customer(db, customer_id, by=user)
            st.session_state["erased-note"] = (
                f"Erased {customer_id}: {report.orders} orders removed, "
                f"{report.messages} messages turned into tombstones."
            )
            st.rerun()


def browse_panel(db: Database, kind: str, user: User) -> None:
    """Search and page through customers or orders; on customers, open the one clicked."""
    if kind == "customers" and (note := st.session_state.pop("erased-note", None)):
        st.success(note, icon=":material/check_circle:")
    text, page, page_size = paging_controls(kind)
    result = cached_search(db_key(db), current_version(db), kind, text, page, page_size, db)
    selected = show_page(result, kind)
    if chosen := selected_customer(result.rows, selected):
        show_customer(db, customer_view(db, chosen), user)
