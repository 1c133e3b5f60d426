"""The Campaigns page's panels: compose a draft (audience, channel, message variants), preview it
for real customers, run the pre-send check and send (or schedule: `schedule_panel`), then follow
the sending."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import streamlit as st

from crm.auth import allowed
from crm.auth.users import User
from crm.campaigns import (
    CHANNELS,
    CampaignDraft,
    CampaignStats,
    campaign_stats,
    compose_campaign,
    preview_messages,
)
from crm.campaigns.audience import EXCLUSIONS
from crm.campaigns.background import is_sending, send_error
from crm.campaigns.check import CheckReport, Problem, check_in_workspace
from crm.campaigns.model import DEFAULT_WINDOW_DAYS, MAX_HOLDOUT_PERCENT, MAX_TEMPLATES, MAX_WINDOW_DAYS
from crm.campaigns.sms_length import sms_length
from crm.campaigns.templating import DERIVED, FIELDS
from crm.errors import InvalidInput
from crm.formats.indian_numbers import as_text, format_count
from crm.segment_engine.model import load_rule_json
from crm.segments import list_segments
from crm.store.documents import Database
from crm.ui.data import workspace_fields
from crm.ui.dlt_control import dlt_control
from crm.ui.errors import errors_shown, show_error
from crm.ui.message_variants import english_or_blank, message_variants_panel
from crm.ui.schedule_panel import schedule_controls
from crm.ui.sending import start_sending

# UI state: the last check (for which draft), the campaign this session is sending, whether its
# progress still refreshes itself.
CHECKED, SENDING, NAMED, FOLLOWING = "cmp_checked", "cmp_sending", "cmp_named", "cmp_following"
UNNAMED = "(unnamed)"
EXAMPLE_RULE = {"op": "and", "rules": [{"field": "days_since_last_order", "operator": ">", "value": 90}]}
RECOMMENDED_HOLDOUT = 10
EXAMPLE_TEMPLATE = (
    'Hi {{ first_name | default("there") }}, we miss you! 10% off this week in {{ city | default("your city") }}.'
)


def draft_key(draft: CampaignDraft) -> str:
    return hashlib.sha256(draft.model_dump_json().encode()).hexdigest()


def choose_audience(db: Database) -> tuple[dict | None, str | None, str | None]:
    """(rule, segment id, segment name) from a saved segment or a pasted rule."""
    segments = list_segments(db)
    source = st.radio(
        "Audience", ["Saved segment", "Rule JSON"], horizontal=True, key="cmp_source", index=0 if segments else 1
    )
    if source == "Saved segment":
        if not segments:
            st.info("No saved segments yet: build one on the Segments page, or paste a rule.")
            return None, None, None
        chosen = st.selectbox("Segment", segments, key="cmp_segment", format_func=lambda s: s.name)
        st.caption(as_text(chosen.description))
        return chosen.rules, chosen.id, chosen.name
    text = st.text_area("Rule (JSON)", json.dumps(EXAMPLE_RULE, indent=2), height=160, key="cmp_rule")
    try:
        return load_rule_json(text), None, None
    except InvalidInput as exc:  # bad JSON or nesting too deep to decode
        show_error(f"The rule is not valid: {as_text(str(exc))}")
        return None, None, None


def compose_form(db: Database) -> CampaignDraft | None:
    """Audience, name, channel, objective and message variants; the draft they make, or None."""
    rule, segment_id, segment_name = choose_audience(db)
    left, right = st.columns(2)
    name = left.text_input("Campaign name", key="cmp_name", placeholder="Win back lapsed buyers")
    channel = right.selectbox(
        "Channel",
        list(CHANNELS),
        key="cmp_channel",
        format_func=lambda c: CHANNELS[c].label,
        help="Decides the contact field and the consent that apply",
    )
    objective = st.text_input("Objective", key="cmp_objective", placeholder="Bring back customers idle for 90 days")
    message_variants_panel(
        objective, english_or_blank(rule), channel, template_key="cmp_template_{}", count_key="cmp_variants"
    )
    variants = st.number_input(
        "Message variants",
        1,
        MAX_TEMPLATES,
        1,
        key="cmp_variants",
        help="Customers are split evenly and stably between the variants",
    )
    templates = []
    for i in range(int(variants)):
        text = st.text_area(
            f"Message {i + 1}" if variants > 1 else "Message",
            EXAMPLE_TEMPLATE if i == 0 else "",
            key=f"cmp_template_{i}",
            height=100,
        )
        templates.append(text)
        if CHANNELS[channel].counts_sms_segments and text:
            length = sms_length(text)
            st.caption(f"Template: {len(text)} characters, {length.encoding}; rendered length is checked below")
    dlt_template_id = dlt_control(db, channel)
    holdout, window = measurement_controls()
    with st.expander("Placeholders you can use"):
        derived = ", ".join(f"`{k}` ({v})" for k, v in DERIVED.items())
        st.markdown(
            ", ".join(f"`{f}`" for f in FIELDS if f not in DERIVED) + f"; derived: {derived}. "
            'Give a field that may be empty a default: `{{ city | default("your city") }}`; '
            "money as rupees: `{{ total_spend | inr }}`."
        )
    if rule is None:
        return None
    st.session_state[NAMED] = bool(name.strip())
    # Preview and check need no name; sending does (checked at the button). A draft the core
    # refuses raises: the page shows why and renders nothing that needs the draft.
    return CampaignDraft.build(
        name=name.strip() or UNNAMED,
        objective=objective,
        channel=channel,
        templates=templates,
        rules=rule,
        segment_id=segment_id,
        segment_name=segment_name,
        holdout_percent=holdout,
        window_days=window,
        dlt_template_id=dlt_template_id,
        catalogue=workspace_fields(),
    )


def measurement_controls() -> tuple[int, int]:
    """The holdout and the attribution window: what the campaign's results are measured with."""
    left, right = st.columns(2)
    holdout = left.number_input(
        "Holdout (% of recipients not messaged)",
        0,
        MAX_HOLDOUT_PERCENT,
        0,  # as the command line: the whole audience unless one is asked for
        step=1,
        key="cmp_holdout",
        help="Chosen at random when sending; their orders show what would have happened anyway",
    )
    window = right.number_input(
        "Attribution window (days)",
        1,
        MAX_WINDOW_DAYS,
        DEFAULT_WINDOW_DAYS,
        step=1,
        key="cmp_window",
        help="A completed order within this many days of the message counts as a conversion",
    )
    st.caption(
        f"We recommend holding out {RECOMMENDED_HOLDOUT}%: without customers who got nothing, no one can tell "
        "which orders the message caused and which would have come anyway."
    )
    return int(holdout), int(window)


def show_message_preview(draft: CampaignDraft) -> None:
    """The messages five real customers of the audience would get."""
    st.subheader("Preview for 5 customers")
    items = preview_messages(draft, n=5)
    problems = [p for p in items if isinstance(p, Problem)]
    for problem in problems:
        show_error(f"{problem.location}: {problem.message}")
    samples = [s for s in items if not isinstance(s, Problem)]
    if samples:
        sms = CHANNELS[draft.channel].counts_sms_segments
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "customer": s.customer_id,
                        "to": s.to,
                        "variant": s.variant + 1,
                        "message": s.message,
                        **({"SMS segments": sms_length(s.message).segments} if sms else {}),
                    }
                    for s in samples
                ]
            ),
            hide_index=True,
            width="stretch",
        )
    elif not problems:
        st.info("Nobody in this audience can be messaged on this channel.")


def show_report(report: CheckReport) -> None:
    """The pre-send check: who is messaged, who is excluded and why, what does not render."""
    reasons = list(report.excluded)  # the cap's column only when it held someone back
    cols = st.columns(2 + len(reasons), border=True)
    cols[0].metric("Matched", format_count(report.matched))
    held = report.expected_holdout
    cols[1].metric(
        "Will be messaged",
        format_count(report.recipients - held),
        help=f"and about {format_count(held)} held out ({report.holdout_percent}%)" if held else None,
    )
    for col, reason in zip(cols[2:], reasons):
        col.metric(
            f"Excluded: {reason.replace('_', ' ')}",
            format_count(report.excluded.get(reason, 0)),
            help=EXCLUSIONS[reason],
        )
    for sentence in report.sms_sentences:
        st.caption(sentence)
    if report.ok:
        st.success("The check passed: every message renders.", icon=":material/check_circle:")
    for problem in report.problems:
        show_error(f"{problem.location}: {problem.message}")


def all_settled(stats: CampaignStats, campaign_id: str) -> bool:
    return stats.pending == 0 and stats.audience > 0 and not is_sending(campaign_id)


def follow(db: Database, campaign_id: str) -> None:
    """Progress of the campaign this session started, refreshed every second until it settles."""
    with errors_shown():
        stats = campaign_stats(db, campaign_id)
        error = send_error(campaign_id)
        if error:
            show_error(f"Sending stopped: {error}")
        total = max(stats.audience, 1)
        st.progress(
            stats.sent / total,
            text=f"Handed to the vendor: {format_count(stats.sent)} of {format_count(stats.audience)}",
        )
        settled = stats.delivered + stats.failed
        st.progress(
            settled / total,
            text=f"Receipts: {format_count(stats.delivered)} delivered, "
            f"{format_count(stats.failed)} failed, {format_count(stats.pending)} pending",
        )
        if all_settled(stats, campaign_id):
            st.success(
                "Every message has its receipt. See the details on the History page.", icon=":material/done_all:"
            )
        st.page_link("app_pages/history.py", label="Open History", icon=":material/history:")
        if st.session_state.get(FOLLOWING) and all_settled(stats, campaign_id):
            # A fragment's timer is fixed when the page runs: a full rerun stops it (otherwise the
            # log is counted every second for as long as the tab is open). The flag is in the
            # session so a timer run queued before the rerun does not ask for another.
            st.session_state[FOLLOWING] = False
            st.rerun()


def check_and_send_panel(db: Database, user: User, draft: CampaignDraft) -> None:
    """The pre-send check for this exact draft, and the send button once it has passed."""
    st.subheader("Check before sending")
    checked = st.session_state.get(CHECKED)
    current = checked if checked and checked[0] == draft_key(draft) else None
    if st.button("Run the pre-send check", icon=":material/fact_check:"):
        with st.spinner("Rendering every message..."):
            current = (draft_key(draft), check_in_workspace(db, draft))
        st.session_state[CHECKED] = current
    if current is not None:
        show_report(current[1])
    ready = current is not None and current[1].ok
    send_help = None if ready else "Run the check; it must pass for this exact audience and message"
    # A role that may not send gets no send button at all (the core refuses it as well).
    if allowed(user, "campaign.send") and st.button(
        "Send campaign", type="primary", disabled=not ready, help=send_help, icon=":material/send:"
    ):
        if not st.session_state.get(NAMED):
            show_error("Name the campaign before sending it.")
        else:
            campaign, _ = compose_campaign(db, user, draft)
            start_sending(db, user, campaign.id)
            st.session_state[SENDING] = campaign.id
            st.session_state.pop(CHECKED, None)
    if schedule_controls(db, user, draft, ready, bool(st.session_state.get(NAMED))):
        st.session_state.pop(CHECKED, None)  # as after sending: a new campaign needs a new check


def sending_panel(db: Database) -> None:
    """Progress of the campaign this session sent last, if any."""
    if not st.session_state.get(SENDING):
        return
    st.subheader("Sending")
    with errors_shown():
        sending = st.session_state[SENDING]
        st.session_state[FOLLOWING] = not all_settled(campaign_stats(db, sending), sending)
        st.fragment(run_every="1s" if st.session_state[FOLLOWING] else None)(follow)(db, sending)
