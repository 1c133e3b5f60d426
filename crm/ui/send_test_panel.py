"""The Campaigns page's test send: the draft's messages, rendered for one real customer, to a
few internal contacts before the real send (crm.campaigns.send_test)."""

from __future__ import annotations

import streamlit as st

from crm.api.local_host import endpoints
from crm.auth import allowed
from crm.auth.users import User
from crm.campaigns.model import CampaignDraft
from crm.campaigns.send_test import MAX_CONTACTS, send_test
from crm.config import load_settings
from crm.store.documents import Database
from crm.ui.errors import errors_shown


def send_test_panel(db: Database, user: User, draft: CampaignDraft) -> None:
    if not allowed(user, "campaign.send"):
        return
    with st.expander("Send a test first", icon=":material/science:"):
        st.caption(
            "Each message variant, filled in with the data of the customer you name, goes to your own "
            f"contacts (at most {MAX_CONTACTS}), marked [TEST]. Nothing of it counts in any campaign."
        )
        with st.form("test-send"):
            customer_id = st.text_input("Customer whose data fills the message", key="cmp_test_customer")
            contacts = st.text_input(
                "Send to (commas between)",
                key="cmp_test_contacts",
                help="Phone numbers for SMS and WhatsApp, email addresses for email",
            )
            if st.form_submit_button("Send the test", icon=":material/send:"):
                with errors_shown():
                    settings = load_settings()
                    to = [c for c in contacts.split(",") if c.strip()]
                    sent = send_test(db, user, draft, customer_id.strip(), to, endpoints(settings).vendor_url, settings)
                    accepted = sum(m.accepted for m in sent)
                    st.success(f"{accepted} of {len(sent)} test message(s) handed to the vendor.")
                    for message in sent:
                        if not message.accepted:
                            st.warning(f"To {message.to} (variant {message.variant}): {message.error}")
