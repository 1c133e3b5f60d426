"""Load generator for `bench api`: POSTs orders over loopback with asyncio + httpx.

Runs in its own process (`python -m crm.bench.api_load ...`) so the client's CPU is not the
server's. Prints one JSON line: requests, orders, accepted, start/end wall times, status codes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter

import httpx


def order_batches(prefix: str, total: int, batch: int, customers: int) -> list[bytes]:
    orders = [
        {
            "order_id": f"{prefix}{i}",
            "customer_id": f"B{i % customers}",
            "amount": f"{(i * 37) % 5000}.{i % 100:02d}",
            "order_date": "2024-05-01",
        }
        for i in range(total)
    ]
    return [json.dumps(orders[i : i + batch] if batch > 1 else orders[i]).encode() for i in range(0, total, batch)]


async def drive(url: str, key: str, bodies: list[bytes], concurrency: int) -> dict:
    statuses: Counter = Counter()
    queue: asyncio.Queue = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=300) as client:

        async def worker():
            while not queue.empty():
                body = queue.get_nowait()
                response = await client.post("/api/v1/orders", content=body)
                statuses[response.status_code] += 1

        started = time.time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        ended = time.time()
    return {"started": started, "ended": ended, "statuses": dict(statuses)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--prefix", required=True, help="order id prefix of this run")
    parser.add_argument("--total", type=int, required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--customers", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    bodies = order_batches(args.prefix, args.total, args.batch, args.customers)
    result = asyncio.run(drive(args.url, args.key, bodies, args.concurrency))
    print(json.dumps({"requests": len(bodies), "orders": args.total, **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
