"""The public unsubscribe page of email links: GET shows what the link does and a button (mail
scanners open links, so a GET alone never unsubscribes), POST unsubscribes: the button, or a
mail app's one-click request (RFC 8058). No sign-in: the signed token is the proof."""

from __future__ import annotations

import html

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from crm.campaigns.unsubscribe import PATH, BadToken, Unsubscribe, read_token, unsubscribe_secret
from crm.ingest.opt_out import OPTED_OUT_AT, opt_out, opt_out_contact
from crm.store.documents import Database

router = APIRouter(prefix=PATH, tags=["unsubscribe"], include_in_schema=False)

CHANNEL_WORDS = {"email": "emails", "sms": "text messages", "whatsapp": "WhatsApp messages"}
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#1e293b}}
button{{background:#0f766e;color:#fff;border:0;padding:.7rem 1.2rem;border-radius:.4rem;font-size:1rem}}</style>
</head><body><h1>{title}</h1>{body}</body></html>"""


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(PAGE.format(title=html.escape(title), body=body), status_code=status)


def _read(request: Request, token: str) -> Unsubscribe | None:
    try:
        return read_token(unsubscribe_secret(request.app.state.settings), token)
    except BadToken:
        return None


def not_valid() -> HTMLResponse:
    return page(
        "Link not valid",
        "<p>This unsubscribe link is not valid: it may have been cut short when it was copied. "
        "Open the link from the email itself.</p>",
        400,
    )


def _words(what: Unsubscribe) -> str:
    return CHANNEL_WORDS.get(what.channel, "messages")


def unsubscribe_customer(db: Database, what: Unsubscribe, source: str) -> int:
    """The person behind the link: by their address when the customer has one (every record with
    it, and the address suppressed), else the one customer."""
    stored = db.customers.find_one({"customer_id": what.customer_id}, {what.channel_field: 1}) or {}
    contact = stored.get(what.channel_field)
    if contact:
        return opt_out_contact(db, contact, what.channel, source)
    return opt_out(db, [what.customer_id], what.channel, source)


@router.get("/{token}", response_class=HTMLResponse)
async def confirm(request: Request, token: str) -> HTMLResponse:
    what = _read(request, token)
    if what is None:
        return not_valid()
    words = _words(what)
    return page(
        f"Unsubscribe from {words}",
        f"<p>You will get no more {words} from us.</p>"
        f'<form method="post"><button type="submit">Unsubscribe</button></form>',
    )


@router.post("/{token}", response_class=HTMLResponse)
async def unsubscribe(request: Request, token: str) -> HTMLResponse:
    what = _read(request, token)
    if what is None:
        return not_valid()
    words = _words(what)
    db = request.app.state.db()
    source = f"unsubscribe link of campaign {what.campaign_id}"
    changed = await run_in_threadpool(unsubscribe_customer, db, what, source)
    if changed:
        return page("You are unsubscribed", f"<p>You will get no more {words} from us.</p>")
    stored = await run_in_threadpool(
        db.customers.find_one, {"customer_id": what.customer_id}, {f"consent.{what.channel}": 1}
    )
    if stored is None:
        return page("Nothing to do", "<p>We hold no details for this link any more.</p>")
    when = ((stored.get("consent") or {}).get(what.channel) or {}).get(OPTED_OUT_AT)
    since = f" on {when:%d %b %Y}" if when else ""
    return page("You are unsubscribed", f"<p>You unsubscribed from our {words}{since}; nothing more to do.</p>")
