"""The receipt endpoint as it would be without the journal: one log update per receipt, in the
request. Only the campaign benchmark serves it, as the baseline that the real endpoint (receipts
stored together in the journal, applied to the log in the background) is measured against. The
request's other work is the real endpoint's own: signature, parsing, the check that each receipt
is about a message we sent."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool

from crm.api.errors import install_error_handlers
from crm.api.routes.receipts import all_refused, parse_receipts
from crm.campaigns.receipts import PATH, check_known, receipt_update
from crm.campaigns.signing import HEADER, receipt_secrets, verify
from crm.config import Settings
from crm.store import get_db


def baseline_app(settings: Settings) -> FastAPI:
    app = FastAPI(title="receipt endpoint baseline")
    install_error_handlers(app)
    secrets = receipt_secrets(settings)

    @app.post(PATH, status_code=202)
    async def delivery_receipt(request: Request) -> dict:
        body = await request.body()
        verify(secrets.accepted, body, request.headers.get(HEADER), tolerance=settings.signature_tolerance_seconds)
        db = get_db(settings)
        receipts, refused = await run_in_threadpool(check_known, db, parse_receipts(body), body.lstrip()[:1] == b"[")
        if not receipts:
            raise all_refused(refused)
        await run_in_threadpool(db.communication_log.bulk_write, [receipt_update(r) for r in receipts])
        return {"accepted": True, "receipts": len(receipts)}

    return app
