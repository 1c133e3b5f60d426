"""Campaign send end to end (log rows, vendor sends, receipts) and receipts/s batched vs one by one.

One process, one fresh database: N customers are written (untimed), then a campaign to all of
them is composed, snapshotted, dispatched to the in-process mock vendor over HTTP and waited on
until every receipt is recorded, with wall time and the CPU time of this process and of the
embedded database server. Then receipts alone, batched against one update per receipt: first
the storage side without HTTP (batches of CRM_RECEIPT_FLUSH_SIZE stored in the receipt journal,
and stored then applied to the log), then
signed receipts posted from another process: one per request written one by one (the endpoint
without its journal, `crm.bench.receipt_baseline`),
one per request through the group commit, and arrays of POST_BATCH (the way the vendor posts).
Progress goes to stderr; the figures are one JSON line on stdout.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime

# httpx's pool scans every connection for every request: past a few dozen connections the client,
# not the server, is what a benchmark measures (256 gave ~48 receipts/s whatever the server did).
POST_CONCURRENCY = 32
POST_BATCH = 500


def add_arguments(parser) -> None:
    parser.add_argument("--recipients", type=int, default=5_000, help="campaign audience (default 5000)")
    parser.add_argument(
        "--receipts",
        type=int,
        default=2_000,
        help="receipts written in each mode of the batching comparisons (default 2000)",
    )


class Clock:
    """Wall time, this process's CPU time and the database server's (when it runs here)."""

    def __init__(self, server_pid: int | None):
        self.server_pid = server_pid
        self.start = (time.perf_counter(), time.process_time(), self._server_cpu())

    def _server_cpu(self) -> float | None:
        if not self.server_pid:
            return None
        try:
            with open(f"/proc/{self.server_pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return None

    def read(self) -> dict:
        wall, cpu, server = self.start
        now_server = self._server_cpu()
        return {
            "wall_seconds": round(time.perf_counter() - wall, 2),
            "cpu_seconds": round(time.process_time() - cpu, 2),
            "db_server_cpu_seconds": (
                round(now_server - server, 2) if now_server is not None and server is not None else None
            ),
        }


def _load_customers(db, sizes: dict[str, int]) -> None:
    """Customers tagged by the audience they belong to: the first `size` of each tag."""
    from crm.ingest.records import validate_records
    from crm.ingest.writer import write_records

    n = max(sizes.values())
    for start in range(0, n, 10_000):
        rows = [
            {
                "customer_id": f"b{i:07d}",
                "name": f"Customer {i}",
                "phone": f"+91{9_000_000_000 + i}",
                "city": ("Mumbai", "Pune", "Delhi")[i % 3],
                "consent_sms": "yes",
                "tags": [t for t, size in sizes.items() if i < size],
            }
            for i in range(start, min(n, start + 10_000))
        ]
        write_records(db, "customers", validate_records("customers", rows).valid)


def _receipt(key: str, vendor_id: str | None = None) -> dict:
    return {
        "idempotency_key": key,
        "vendor_message_id": vendor_id or uuid.uuid4().hex,
        "status": "DELIVERED",
        "occurred_at": datetime.now(UTC).isoformat(),
    }


async def _post_receipts(url: str, secret: bytes, keys: list[tuple[str, str]], per_request: int) -> tuple[float, float]:
    """(when the first request left, seconds until the last was acknowledged)"""
    import httpx
    from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

    from crm.campaigns.signing import HEADER, sign

    slots = asyncio.Semaphore(POST_CONCURRENCY)
    bodies = []
    for start in range(0, len(keys), per_request):
        chunk = [_receipt(k, v) for k, v in keys[start : start + per_request]]
        bodies.append(json.dumps(chunk[0] if per_request == 1 else chunk).encode())
    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=POST_CONCURRENCY)) as client:

        async def post(body: bytes) -> None:
            async with slots:
                # A kept-alive connection the server just closed is a ReadError: send again.
                async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(5), reraise=True, retry=retry_if_exception_type(httpx.TransportError)
                ):
                    with attempt:
                        response = await client.post(url, content=body, headers={HEADER: sign(secret, body)})
                response.raise_for_status()

        began, started = time.time(), time.perf_counter()
        await asyncio.gather(*(post(b) for b in bodies))
        return began, time.perf_counter() - started


def _post_in_child(url: str, secret: bytes, keys: list[tuple[str, str]], per_request: int) -> tuple[float, float]:
    return asyncio.run(_post_receipts(url, secret, keys, per_request))


def _receipt_rate(db, settings, campaign, baseline: bool, per_request: int) -> tuple[float, float]:
    """Receipts/s acknowledged, and applied to the log (the counters show them)."""
    from crm.api.local_host import LocalHost
    from crm.campaigns.dispatcher import Outcome, outcome_updates
    from crm.campaigns.model import PENDING, SENT
    from crm.campaigns.signing import receipt_secrets
    from crm.campaigns.snapshot import take_snapshot

    take_snapshot(db, campaign)
    customers = [r["customer_id"] for r in db.communication_log.find({"campaign_id": campaign.id}, {"customer_id": 1})]
    # As the dispatcher records them: the endpoint takes receipts only for messages the vendor accepted.
    sent = [Outcome(c, True, uuid.uuid4().hex, 1) for c in customers]
    db.communication_log.bulk_write(outcome_updates(campaign.id, sent), ordered=False)
    keys = [(f"{campaign.id}:{o.customer_id}", str(o.vendor_message_id)) for o in sent]
    pending = {"campaign_id": campaign.id, "status": {"$in": [PENDING, SENT]}}
    from crm.bench.receipt_baseline import baseline_app

    host = LocalHost(settings, app=baseline_app(settings) if baseline else None).start()
    try:
        # The load comes from another process, so the client does not compete with the server
        # for this interpreter's lock.
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            began, seconds = pool.submit(
                _post_in_child,
                f"{host.url}/api/v1/delivery-receipts",
                receipt_secrets(settings).current,
                keys,
                per_request,
            ).result()
        while db.communication_log.count_documents(pending):
            time.sleep(0.02)
        applied = time.time() - began
    finally:
        host.stop()
    return len(keys) / seconds, len(keys) / applied


def _write_rates(db, campaign_ids: tuple[str, ...], n: int, batch: int) -> dict[str, float]:
    """The storage side alone, no HTTP: one update per receipt; batches stored in the journal (what
    the endpoint waits for before its 202); batches stored and applied to the log (the counters)."""
    from crm.campaigns.receipt_journal import store_receipts
    from crm.campaigns.receipts import Receipt, receipt_update, write_receipts

    def receipts(campaign_id: str) -> list[Receipt]:
        return [
            Receipt.model_validate(_receipt(f"{campaign_id}:{row['customer_id']}"))
            for row in db.communication_log.find({"campaign_id": campaign_id}, {"customer_id": 1}).limit(n)
        ]

    def rate(items: list, write) -> float:
        started = time.perf_counter()
        for start in range(0, len(items), batch):
            write(items[start : start + batch])
        return len(items) / (time.perf_counter() - started)

    single, stored, applied = (receipts(c) for c in campaign_ids)
    one = rate(single, lambda items: [db.communication_log.bulk_write([receipt_update(r)]) for r in items])
    acknowledged = rate(stored, lambda items: store_receipts(db, items))
    counted = rate(applied, lambda items: (store_receipts(db, items), write_receipts(db, items)))
    return {
        "one_update_per_receipt_per_second": round(one, 1),
        "batched_stored_per_second": round(acknowledged, 1),
        "batched_stored_and_applied_per_second": round(counted, 1),
        "stored_vs_one_by_one": round(acknowledged / one, 2),
        "stored_and_applied_vs_one_by_one": round(counted / one, 2),
    }


def _end_to_end(db, settings, draft, server_pid) -> dict:
    from tqdm import tqdm

    from crm.api.local_host import endpoints, stop_hosts
    from crm.auth import CLI
    from crm.campaigns import compose_campaign, send_campaign, wait_until_settled

    bars: dict[str, tqdm] = {}

    def progress(phase: str, n: int) -> None:
        if phase not in bars:
            bars[phase] = tqdm(total=total, desc=phase, unit="msg", file=sys.stderr, mininterval=1)
        bars[phase].update(n)

    clock = Clock(server_pid)
    campaign, report = compose_campaign(db, CLI, draft)
    total = report.recipients
    checked = clock.read()
    send_campaign(db, CLI, campaign.id, endpoints(settings).vendor_url, settings, progress=progress)
    dispatched = clock.read()
    for bar in bars.values():
        bar.close()
    with tqdm(total=total, desc="receipts", unit="msg", file=sys.stderr, mininterval=1) as bar:

        def settled_so_far(stats) -> None:
            bar.update(stats.delivered + stats.failed - bar.n)

        stats = wait_until_settled(db, campaign.id, on_change=settled_so_far, poll_seconds=0.1)
    done = clock.read()
    stop_hosts()
    return {
        "recipients": stats.audience,
        "total": done,
        "messages_per_second": round(stats.audience / done["wall_seconds"], 1),
        "check_seconds": checked["wall_seconds"],
        "dispatch_seconds": round(dispatched["wall_seconds"] - checked["wall_seconds"], 2),
        "sends_per_second": round(stats.audience / (dispatched["wall_seconds"] - checked["wall_seconds"]), 1),
        "receipts_wait_seconds": round(done["wall_seconds"] - dispatched["wall_seconds"], 2),
        "counters": stats.model_dump(exclude={"campaign_id"}),
    }


def run(args) -> dict:
    from crm import store
    from crm.analytics import analytic_copy
    from crm.auth import CLI
    from crm.campaigns import CampaignDraft, campaign_stats, compose_campaign
    from crm.campaigns.repository import get_campaign
    from crm.campaigns.snapshot import take_snapshot
    from crm.config import load_settings

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="crm-bench-campaign-") as tmp:
        os.environ["CRM_DB_NAME"] = f"bench_campaign_{uuid.uuid4().hex[:8]}"
        if not load_settings().mongodb_uri:
            os.environ["CRM_DATA_DIR"] = tmp
        store.reset()
        analytic_copy.close_all()
        settings = load_settings()
        db = store.get_db(settings)
        info = None if settings.mongodb_uri else store.embedded_server(settings).read_info()
        server_pid = info.server_pid if info is not None else None
        print(f"loading {max(args.recipients, args.receipts)} customers...", file=sys.stderr, flush=True)
        _load_customers(db, {"e2e": args.recipients, "receipts": args.receipts})

        def draft(name: str, tag: str) -> CampaignDraft:
            rules = {"op": "and", "rules": [{"field": "tags", "operator": "contains", "value": tag}]}
            return CampaignDraft.build(
                name=name, templates=["Hi {{ first_name }}, new offers in {{ city }}!"], rules=rules
            )

        end_to_end = _end_to_end(db, settings, draft("bench", "e2e"), server_pid)

        print("receipt writes without HTTP...", file=sys.stderr, flush=True)
        write_only = []
        for label in ("write one", "store batched", "store and apply batched"):
            other, _ = compose_campaign(db, CLI, draft(f"receipts {label}", "receipts"))
            take_snapshot(db, get_campaign(db, other.id))
            write_only.append(other.id)
        storage = _write_rates(db, tuple(write_only), args.receipts, settings.receipt_flush_size)

        modes = (  # (label, the baseline endpoint of crm.bench.receipt_baseline, receipts per request)
            ("one_per_request_one_update_each", True, 1),
            ("one_per_request_group_commit", False, 1),
            (f"arrays_of_{POST_BATCH}_group_commit", False, POST_BATCH),
        )
        rates, applied = {}, {}
        for label, without_journal, per_request in modes:
            print(f"receipts over HTTP: {label}...", file=sys.stderr, flush=True)
            other, _ = compose_campaign(db, CLI, draft(f"receipts {label}", "receipts"))
            rates[label], applied[label] = _receipt_rate(
                db, settings, get_campaign(db, other.id), without_journal, per_request
            )
            campaign_stats(db, other.id)
        baseline = rates["one_per_request_one_update_each"]
        return {
            "end_to_end": end_to_end,
            "receipt_writes_without_http": storage,
            "receipts_over_http": {
                "count": args.receipts,
                "client_concurrency": POST_CONCURRENCY,
                "flush_ms": settings.receipt_flush_ms,
                "flush_size": settings.receipt_flush_size,
                "acknowledged_per_second": {k: round(v, 1) for k, v in rates.items()},
                "applied_to_log_per_second": {k: round(v, 1) for k, v in applied.items()},
                "acknowledged_vs_one_by_one": {k: round(v / baseline, 2) for k, v in rates.items()},
                "applied_vs_one_by_one": {k: round(v / baseline, 2) for k, v in applied.items()},
            },
            "database": "MONGODB_URI" if settings.mongodb_uri else "embedded",
            "load_average_before_after": [round(load_before[0], 1), round(os.getloadavg()[0], 1)],
        }
