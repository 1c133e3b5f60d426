"""`python -m crm demo`: load deterministic demo data (customers and orders)."""

from __future__ import annotations

import json
from datetime import date

from crm.errors import InvalidInput


def register(sub) -> None:
    parser = sub.add_parser(
        "demo",
        help="load realistic demo customers and orders",
        description="Loads deterministic demo data: the same seed and --as-of date give the same "
        "records. Dates run back three years from --as-of (default: yesterday, UTC, so that no "
        "order is in the future), so the data looks fresh. Loading again is idempotent; --reset removes all customers "
        "and orders first.",
    )
    parser.add_argument("--customers", type=int, default=5_000, help="number of customers (default 5000)")
    parser.add_argument("--orders", type=int, default=50_000, help="number of orders (default 50000)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--as-of", dest="as_of", help="last day of the data, YYYY-MM-DD (default: yesterday, UTC)")
    parser.add_argument("--reset", action="store_true", help="delete all customers and orders first")
    parser.add_argument(
        "--no-campaign",
        dest="campaign",
        action="store_false",
        help="leave out the past campaign with a holdout whose results History shows",
    )
    parser.set_defaults(handler=demo_command)


def parse_spec(args):
    from crm.demo import DemoSpec

    if args.customers < 1:
        raise InvalidInput("--customers", "must be at least 1")
    if args.orders < 0:
        raise InvalidInput("--orders", "must not be negative")
    extra = {}
    if args.as_of:
        try:
            extra["as_of"] = date.fromisoformat(args.as_of)
        except ValueError:
            raise InvalidInput("--as-of", f"{args.as_of!r} is not a date like 2025-03-31") from None
    return DemoSpec(customers=args.customers, orders=args.orders, seed=args.seed, campaign=args.campaign, **extra)


def demo_command(args) -> int:
    from tqdm import tqdm

    from crm.auth import CLI
    from crm.demo import load_demo
    from crm.store import get_db

    spec = parse_spec(args)
    bars: dict[str, tqdm] = {}

    def progress(kind: str, done: int, total: int) -> None:
        bar = bars.get(kind)
        if bar is None:
            bar = bars[kind] = tqdm(total=total, desc=f"writing {kind}", unit=" rows")
        bar.update(done - bar.n)

    try:
        report = load_demo(get_db(), spec, reset=args.reset, progress=progress, by=CLI)
    finally:
        for bar in bars.values():
            bar.close()
    print(json.dumps(report.summary()))
    return 0
