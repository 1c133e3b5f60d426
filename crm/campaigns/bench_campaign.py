"""Campaign send end to end (log rows, vendor sends, receipts) and receipts/s batched vs one by one.

One process, one fresh database: N customers are written (untimed), then a campaign to all of
them is composed, snapshotted, dispatched to the in-process mock vendor over HTTP and waited on
until every receipt is recorded. Then receipts alone, batched against one update per receipt:
first the storage side without HTTP (`write_receipts` in batches of CRM_RECEIPT_FLUSH_SIZE), then
signed receipts posted concurrently from another process to an endpoint of each kind.
"""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import json
import os
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime

POST_CONCURRENCY = 256


def add_arguments(parser) -> None:
    parser.add_argument("--recipients", type=int, default=5_000, help="campaign audience (default 5000)")
    parser.add_argument("--receipts", type=int, default=2_000,
                        help="receipts written in each mode of the batching comparisons (default 2000)")


def _load_customers(db, sizes: dict[str, int]) -> None:
    """Customers tagged by the audience they belong to: the first `size` of each tag."""
    from crm.ingest.records import validate_records
    from crm.ingest.writer import write_records

    n = max(sizes.values())
    for start in range(0, n, 10_000):
        rows = [{"customer_id": f"b{i:07d}", "name": f"Customer {i}", "phone": f"+91{9_000_000_000 + i}",
                 "city": ("Mumbai", "Pune", "Delhi")[i % 3], "tags": [t for t, size in sizes.items() if i < size]}
                for i in range(start, min(n, start + 10_000))]
        write_records(db, "customers", validate_records("customers", rows).valid)


async def _post_receipts(url: str, secret: bytes, keys: list[str]) -> float:
    import httpx
    from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

    from crm.campaigns.signing import HEADER, sign

    slots = asyncio.Semaphore(POST_CONCURRENCY)
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=POST_CONCURRENCY)) as client:
        async def post(key: str) -> None:
            body = json.dumps({"idempotency_key": key, "vendor_message_id": uuid.uuid4().hex, "status": "DELIVERED",
                               "occurred_at": datetime.now(UTC).isoformat()}).encode()
            async with slots:
                # A kept-alive connection the server just closed is a ReadError: send again.
                async for attempt in AsyncRetrying(stop=stop_after_attempt(5), reraise=True,
                                                   retry=retry_if_exception_type(httpx.TransportError)):
                    with attempt:
                        response = await client.post(url, content=body, headers={HEADER: sign(secret, body)})
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(post(k) for k in keys))
        return time.perf_counter() - started


def _post_in_child(url: str, secret: bytes, keys: list[str]) -> float:
    return asyncio.run(_post_receipts(url, secret, keys))


def _receipt_rate(db, settings, campaign, mode_settings) -> float:
    from crm.campaigns.host import LocalHost
    from crm.campaigns.model import PENDING
    from crm.campaigns.signing import receipt_secret
    from crm.campaigns.snapshot import take_snapshot

    take_snapshot(db, campaign)
    keys = [f"{campaign.id}:{r['customer_id']}" for r in db.communication_log.find(
        {"campaign_id": campaign.id}, {"customer_id": 1})]
    host = LocalHost(mode_settings).start()
    try:
        # The load comes from another process, so the client does not compete with the server
        # for this interpreter's lock.
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            seconds = pool.submit(_post_in_child, f"{host.url}/api/v1/delivery-receipts",
                                  receipt_secret(settings), keys).result()
    finally:
        host.stop()
    assert db.communication_log.count_documents({"campaign_id": campaign.id, "status": PENDING}) == 0
    return len(keys) / seconds


def _write_rates(db, campaign_ids: tuple[str, str], n: int, batch: int) -> dict[str, float]:
    """The storage side alone, no HTTP: one update per receipt vs `write_receipts` in batches."""
    from crm.campaigns.receipts import Receipt, receipt_update, write_receipts

    def receipts(campaign_id: str) -> list[Receipt]:
        return [Receipt(idempotency_key=f"{campaign_id}:{row['customer_id']}", vendor_message_id=uuid.uuid4().hex,
                        status="DELIVERED", occurred_at=datetime.now(UTC))
                for row in db.communication_log.find({"campaign_id": campaign_id}, {"customer_id": 1}).limit(n)]

    single, batched = receipts(campaign_ids[0]), receipts(campaign_ids[1])
    started = time.perf_counter()
    for r in single:
        db.communication_log.bulk_write([receipt_update(r)])
    one = len(single) / (time.perf_counter() - started)
    started = time.perf_counter()
    for start in range(0, len(batched), batch):
        write_receipts(db, batched[start:start + batch])
    many = len(batched) / (time.perf_counter() - started)
    return {"one_update_per_receipt_per_second": round(one, 1), "batched_per_second": round(many, 1),
            "batched_vs_one_by_one": round(many / one, 2)}


def run(args) -> dict:
    from crm import store
    from crm.analytics import analytic_copy
    from crm.auth import CLI
    from crm.campaigns import CampaignDraft, campaign_stats, compose_campaign, send_campaign, wait_until_settled
    from crm.campaigns.host import stop_hosts
    from crm.campaigns.repository import get_campaign
    from crm.config import load_settings

    with tempfile.TemporaryDirectory(prefix="crm-bench-campaign-") as tmp:
        os.environ["CRM_DB_NAME"] = f"bench_campaign_{uuid.uuid4().hex[:8]}"
        if not load_settings().mongodb_uri:
            os.environ["CRM_DATA_DIR"] = tmp
        store.reset()
        analytic_copy.close_all()
        settings = load_settings()
        db = store.get_db(settings)
        _load_customers(db, {"e2e": args.recipients, "receipts": args.receipts})

        def draft(name: str, tag: str) -> CampaignDraft:
            rules = {"op": "and", "rules": [{"field": "tags", "operator": "contains", "value": tag}]}
            return CampaignDraft.build(name=name, templates=["Hi {{ first_name }}, new offers in {{ city }}!"],
                                       rules=rules)

        started = time.perf_counter()
        campaign, _ = compose_campaign(db, CLI, draft("bench", "e2e"))
        checked = time.perf_counter()
        send_campaign(db, CLI, campaign.id, settings)
        dispatched = time.perf_counter()
        stats = wait_until_settled(db, campaign.id, poll_seconds=0.1)
        settled = time.perf_counter()
        stop_hosts()
        audience = stats.audience
        end_to_end = {
            "recipients": audience, "check_seconds": round(checked - started, 2),
            "dispatch_seconds": round(dispatched - checked, 2),
            "total_seconds": round(settled - started, 2),
            "messages_per_second": round(audience / (settled - started), 1),
            "sends_per_second": round(audience / (dispatched - checked), 1),
            "receipts_wait_seconds": round(settled - dispatched, 2),
            "counters": stats.model_dump(exclude={"campaign_id"}),
        }

        from crm.campaigns.snapshot import take_snapshot

        write_only = []
        for label in ("write one", "write batched"):
            other, _ = compose_campaign(db, CLI, draft(f"receipts {label}", "receipts"))
            take_snapshot(db, get_campaign(db, other.id))
            write_only.append(other.id)
        storage = _write_rates(db, tuple(write_only), args.receipts, settings.receipt_flush_size)

        one_by_one = dataclasses.replace(settings, receipt_flush_size=1)
        rates = {}
        for label, mode in (("one_update_per_receipt", one_by_one), ("batched", settings)):
            other, _ = compose_campaign(db, CLI, draft(f"receipts {label}", "receipts"))
            rates[label] = _receipt_rate(db, settings, get_campaign(db, other.id), mode)
            campaign_stats(db, other.id)
        return {
            "end_to_end": end_to_end,
            "receipt_writes_without_http": storage,
            "receipts_over_http": {"count": args.receipts, "concurrency": POST_CONCURRENCY,
                         "flush_ms": settings.receipt_flush_ms, "flush_size": settings.receipt_flush_size,
                         **{f"{k}_per_second": round(v, 1) for k, v in rates.items()},
                         "batched_vs_one_by_one": round(rates["batched"] / rates["one_update_per_receipt"], 2)},
        }
