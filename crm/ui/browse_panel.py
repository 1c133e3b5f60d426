"""The customers and orders tabs of the Data page: search and page through them, open one
customer with their consent, spend and orders, and erase them on request."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from crm.analytics.browse import PAGE_SIZES, CustomerView, Page, customer_view, search
from crm.auth import allowed
from crm.auth.users import User
from crm.formats.indian_numbers import as_text, format_count, format_inr
from crm.ingest.consent import CHANNELS
from crm.ingest.erasure import erase_customer
from crm.store.documents import Database
from crm.ui.data import current_version


@st.cache_data(show_spinner=False, max_entries=32)
def cached_search(db_key: str, version: tuple, kind: str, text: str, page: int, page_size: int, _db: Database) -> Page:
    return search(_db, kind, text, page, page_size)


def db_key(db: Database) -> str:
    return f"{db.client.address}/{db.name}"


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


def show_customer(db: Database, view: CustomerView, user: User) -> None:
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
        erase_panel(db, customer["customer_id"], user)


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
            report = erase_customer(db, customer_id, by=user)
            st.session_state.pop("customer-open", None)
            st.session_state["erased-note"] = (
                f"Erased {customer_id}: {report.orders} orders removed, "
                f"{report.messages} messages turned into tombstones."
            )
            st.rerun()


def browse_panel(db: Database, kind: str, user: User) -> None:
    """Search and page through customers or orders; on customers, open one of the page."""
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
            show_customer(db, customer_view(db, chosen), user)
